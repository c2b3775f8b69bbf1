/**
 * `npm install -g <tarball>` on a machine without a C compiler: both notes on the missing native helper
 * (the install's, and the digest path's reason an `ivsh guest send --json` reports) told the user to run
 * `npm rebuild ivsh`, which for a global install answers "rebuilt dependencies successfully" and builds
 * nothing; `npm rebuild -g ivsh` builds it. The command each note names must build it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { INSTALL_MS, packCheckout, run } from "./helpers/npm-project.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";

let paths: TestPaths;
let tarball: string;
/** The user's global prefix, as npm's own setting (npm_config_prefix), for the install and what follows. */
let env: Record<string, string>;
let installed: string;

beforeAll(async () => {
  paths = testPaths("package-global");
  const packed = await packCheckout(["--pack-destination", paths.dir]);
  expect(packed.exitCode, packed.output).toBe(0);
  tarball = join(paths.dir, packed.stdout.trim().split("\n").at(-1)!);
  const prefix = join(paths.dir, "global");
  env = { npm_config_prefix: prefix };
  installed = join(prefix, "lib/node_modules/ivsh");
}, INSTALL_MS);
afterAll(() => paths?.cleanup());

/** The command a note names in backquotes after `after`, run as the user would, in their home directory. */
async function runNamed(note: string, after: RegExp) {
  const command = new RegExp(`${after.source}\`([^\`]+)\``).exec(note)?.[1];
  expect(command, note).toBeDefined();
  const ran = await run(command!.split(" "), { cwd: paths.dir, env });
  expect(ran.exitCode, `${command}: ${ran.output}`).toBe(0);
}

test(
  "without a C compiler, the command each note names builds the helper of the global install",
  async () => {
    const install = await run(
      [
        "npm",
        "install",
        "-g",
        "--no-audit",
        "--no-fund",
        "--prefer-offline",
        "--foreground-scripts",
        tarball,
      ],
      { cwd: paths.dir, env: { ...env, CC: "/nonexistent/cc" } },
    );
    expect(install.exitCode, install.output).toBe(0);
    const library = join(installed, "build/native/libivsh-native.so");
    expect(existsSync(library)).toBe(false);
    const note = install.output.split("\n").find((line) => line.includes("native copy+hash helper")) ?? "";
    await runNamed(note, /then /);
    expect(existsSync(library), note).toBe(true);

    rmSync(library);
    const script = join(paths.dir, "digest-path.ts");
    writeFileSync(
      script,
      `import { nativeStatus } from ${JSON.stringify(join(installed, "src/ffi/native.ts"))};\nconsole.log(nativeStatus().detail);\n`,
    );
    const detail = await run([process.execPath, script], { cwd: paths.dir });
    expect(detail.stdout).toContain("is not built");
    await runNamed(detail.stdout, /: run /);
    expect(existsSync(library), detail.stdout).toBe(true);
  },
  INSTALL_MS,
);
