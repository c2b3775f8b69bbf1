#!/bin/sh
":" //; self=$(readlink -f -- "$0" 2>/dev/null) || self=$0; package=${self%/bin/*}
":" //; ignored=; while read -r key value; do [ "$key" != SigIgn: ] || ignored=$value; done 2>/dev/null </proc/$$/status
":" //; IVSH_IGNORED_AT_EXEC="$$:$ignored"; export IVSH_IGNORED_AT_EXEC
":" //; beside=${0%/*}/bun; case $beside in node_modules/.bin/bun | */node_modules/.bin/bun) ;; *) beside= ;; esac
":" //; for bun in "$package/node_modules/.bin/bun" "$package/../.bin/bun" "$beside" "$(command -v bun)" "${0%/*}/bun"; do
":" //;   if [ -n "$bun" ] && [ -f "$bun" ] && [ -x "$bun" ]; then exec "$bun" "$package/src/cli.ts" "$@"; fi
":" //; done
":" //; echo "ivsh: the CLI runs on Bun, and there is no \`bun\` on PATH: install it (\`npm install -g bun\`, or see https://bun.sh)" >&2; exit 1
/**
 * The `ivsh` command of the npm package. The CLI is TypeScript that runs on Bun.
 *
 * Run as a command (npm's `ivsh` link), this file is the shell script of the lines above (to JavaScript,
 * strings and comments): it finds `bun` (the project's node_modules/.bin, from the package's directory, or
 * beside the node_modules/.bin/ivsh link that was run for a package dir that is a symlink (`npm install
 * ../ivsh`, `npm link`); then PATH; then beside any link that was run, as a global install's bun is) and
 * execs the CLI with it, so the CLI is this very process and sees what its parent gave it.
 * A Node launcher could not: Node sets every signal to its default as it starts, so a signal a script
 * left ignored (SIGINT for its background `ivsh host &`, SIGHUP under nohup) would be caught by the CLI
 * (src/commands/_exit.ts).
 * Bun itself drops an inherited ignore of SIGINT and SIGTERM when a standard descriptor is a terminal (it
 * catches them to restore the terminal's modes), before any code of ours runs: so these lines pass on the
 * ignored signals they see in IVSH_IGNORED_AT_EXEC ("PID:SigIgn"; src/signals.ts).
 * `npx ivsh` runs npm, a Node process, first: what a script ignored is lost there already, so a script
 * runs node_modules/.bin/ivsh, or the `ivsh` of a global install, instead.
 *
 * Run by Bun (`bun bin/ivsh.mjs`), it runs the CLI in this process. Run by Node (`node bin/ivsh.mjs`), it
 * runs the CLI with the bun it finds, passing signals on and exiting as it exits; the signals its parent
 * left ignored are not known to it any more, and the CLI listens for them all. Where speed matters
 * (process start in a guest), use the single executable that `npm run build` makes (dist/ivsh).
 */
import { spawn } from "node:child_process";
import { accessSync, constants, readFileSync, readlinkSync, statSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE = join(dirname(fileURLToPath(import.meta.url)), "..");
const CLI = join(PACKAGE, "src/cli.ts");

/**
 * The standard descriptors that were closed when this process started (`<&-`, `>&-`). Node opens
 * /dev/null there, read-write, which a shell's `<` or `>` never does (Node marks all three close-on-exec,
 * so that flag, Bun's sign, says nothing here). The CLI's child could not tell that /dev/null from
 * `< /dev/null` (`send -` would send an empty stream both ends call verified), so it is told in
 * IVSH_CLOSED_AT_START (src/ffi, closedAtStart). A parent that hands over a read-write /dev/null (`<>`, a
 * spawn with stdin ignored) is taken for a closed one too: there is no data there either.
 */
function closedAtStart() {
  const O_ACCMODE = 3;
  const O_RDWR = 2;
  return [0, 1, 2].filter((fd) => {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) !== "/dev/null") return false;
      const flags = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))?.[1];
      return flags !== undefined && (Number.parseInt(flags, 8) & O_ACCMODE) === O_RDWR;
    } catch {
      return false; // no /proc: the CLI sees only what its own runtime did
    }
  });
}

function findBun() {
  const local = [join(PACKAGE, "node_modules/.bin/bun"), join(PACKAGE, "../.bin/bun")];
  // Beside the node_modules/.bin link that was run (process.argv[1] is not resolved): the project's, for
  // a package dir that is a symlink.
  const link = dirname(process.argv[1] ?? "");
  if (link.endsWith("/node_modules/.bin")) local.push(join(link, "bun"));
  const onPath = (process.env.PATH ?? "").split(delimiter).map((dir) => join(dir, "bun"));
  // Last, beside any link that was run: a global install's bun, PATH without its bin (a systemd unit).
  const last = process.argv[1] ? [join(link, "bun")] : [];
  return [...local, ...onPath, ...last].find((candidate) => candidate && runnable(candidate));
}

/** A file that may be run, as the shell's `[ -f ] && [ -x ]` above asks: one that may not is passed over. */
function runnable(path) {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

if (process.versions.bun) {
  const { run } = await import(CLI);
  process.exitCode = await run(process.argv.slice(2));
} else {
  const bun = findBun();
  if (!bun) {
    console.error(
      "ivsh: the CLI runs on Bun, and there is no `bun` on PATH: install it (`npm install -g bun`, or see https://bun.sh)",
    );
    process.exit(1);
  }
  const closed = closedAtStart();
  const env = closed.length > 0 ? { ...process.env, IVSH_CLOSED_AT_START: closed.join(",") } : process.env;
  const child = spawn(bun, [CLI, ...process.argv.slice(2)], { stdio: "inherit", env });
  // Ctrl-C and a closed terminal reach the whole process group, the CLI included: passed on as well,
  // the CLI would get a second signal, which ends it before it has cleaned up. SIGTERM is sent to us alone.
  for (const signal of ["SIGINT", "SIGHUP"]) process.on(signal, () => {});
  process.on("SIGTERM", () => child.kill("SIGTERM"));
  child.on("exit", (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    }
    process.exit(code ?? 1);
  });
}
