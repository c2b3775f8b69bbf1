/**
 * Builds the optional native helper (src/ffi/native/*.c) into build/native/. Plain JavaScript for
 * Node as much as Bun: it is the package's postinstall, and a machine that installs ivsh with npm need
 * not have Bun on its PATH yet.
 *
 *   node scripts/native.mjs              fails without a C compiler (as run by hand)
 *   node scripts/native.mjs --optional   says so in one line and succeeds (npm install)
 *
 * Without the helper ivsh runs its portable copy+hash path: the same digest, a slower sender.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
const SOURCES = ["src/ffi/native/copyhash.c", "src/ffi/native/fault.c"];
export const NATIVE_OUTPUT = "build/native/libivsh-native.so";
const CFLAGS = ["-O2", "-fPIC", "-shared", "-fvisibility=hidden", "-Wall", "-Wextra"];

/** Compiles the helper; returns whether it was built. Throws (unless `optional`) if it could not be. */
export function buildNative(optional) {
  const compiler = process.env.CC?.trim() || "cc";
  // CC is a command, as make takes it: "ccache cc" or "cc -m64" runs its first word with the rest.
  const [program, ...compilerArgs] = compiler.split(/\s+/);
  mkdirSync(join(REPO, "build/native"), { recursive: true });
  // Warnings fail the build where we develop (run by hand); a user's newer compiler only warns.
  const flags = optional ? CFLAGS : [...CFLAGS, "-Werror"];
  const args = [...compilerArgs, ...flags, "-o", NATIVE_OUTPUT, ...SOURCES];
  const result = spawnSync(program, args, { cwd: REPO, encoding: "utf8" });
  if (result.status === 0) {
    console.log(`ivsh: built ${NATIVE_OUTPUT} with ${compiler}`);
    return true;
  }
  const said = `${result.stdout}${result.stderr}`.trim();
  // A compiler may fail without a word (killed, out of memory): how it ended is then all there is to say.
  const ended = result.signal ? `killed by ${result.signal}` : `exit status ${result.status}`;
  const why = result.error
    ? `there is no C compiler '${compiler}' (${result.error.code ?? result.error.message})`
    : `'${compiler}' failed (${ended})${said ? `: ${said}` : " without saying why"}`;
  const message = `ivsh: the native copy+hash helper was not built since ${why}`;
  const remedy = result.error
    ? "install gcc (or set CC)"
    : said
      ? "fix what the compiler said"
      : `run '${compiler}' by hand to see why`;
  if (!optional) throw new Error(`${message}; ${remedy} and run this again`);
  // A global install's rebuild needs -g: without it npm looks in the current project and builds nothing.
  const rebuild = process.env.npm_config_global === "true" ? "npm rebuild -g ivsh" : "npm rebuild ivsh";
  console.warn(
    `${message}; ivsh uses its portable path (the same digest, a slower sender). To build it: ${remedy}, then \`${rebuild}\`.`,
  );
  return false;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    buildNative(process.argv.includes("--optional"));
  } catch (error) {
    console.error(error.message);
    process.exit(1);
  }
}
