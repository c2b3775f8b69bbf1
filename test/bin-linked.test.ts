/**
 * The package's `ivsh` command (bin/ivsh.mjs) where the package directory is a symlink: `npm install
 * ../ivsh` (a file: dependency) and `npm link` put node_modules/ivsh there as a link to the package's own
 * directory, which has no node_modules/.bin/bun of its own. The project's bun is beside the `ivsh` link
 * that was run (node_modules/.bin), as in any install; the command finds it there, PATH without bun. So
 * for a global install's bun, beside its `ivsh` in PREFIX/bin.
 */
import { afterAll, expect, test } from "bun:test";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SYSTEM_PATH } from "./helpers/npm-project.ts";
import { REPO } from "./helpers/paths.ts";

const dir = mkdtempSync(join(tmpdir(), "ivsh-bin-linked-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `ARGV --version` run in `cwd` with PATH as given: what it exited with and printed. */
async function versionOf(argv: readonly string[], cwd: string, path = SYSTEM_PATH) {
  const proc = Bun.spawn([...argv, "--version"], {
    cwd,
    env: { HOME: process.env.HOME ?? "/root", PATH: path, NO_COLOR: "1" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, stdout, stderr] = await Promise.all([
    proc.exited,
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
  ]);
  return { code, stdout: stdout.trim(), stderr };
}

/** A package directory without node_modules (its CLI's sources linked), and a project linking to it. */
function linkedProject(): string {
  const pkg = join(dir, "ivsh package");
  mkdirSync(join(pkg, "bin"), { recursive: true });
  copyFileSync(join(REPO, "bin/ivsh.mjs"), join(pkg, "bin/ivsh.mjs"));
  symlinkSync(join(REPO, "src"), join(pkg, "src"));
  symlinkSync(join(REPO, "package.json"), join(pkg, "package.json"));
  const project = join(dir, "project");
  mkdirSync(join(project, "node_modules/.bin"), { recursive: true });
  symlinkSync("../../ivsh package", join(project, "node_modules/ivsh"));
  symlinkSync("../ivsh/bin/ivsh.mjs", join(project, "node_modules/.bin/ivsh"));
  symlinkSync(process.execPath, join(project, "node_modules/.bin/bun"));
  return project;
}

const project = linkedProject();
const version = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version;

for (const [how, runner] of [
  ["run as a command", []],
  ["under Node", ["node"]],
] as const)
  test(`a symlinked package dir, ${how}: node_modules/.bin/ivsh runs the CLI with node_modules/.bin/bun, no bun on PATH`, async () => {
    expect(await versionOf([...runner, "node_modules/.bin/ivsh"], project)).toEqual({
      code: 0,
      stdout: version,
      stderr: "",
    });
  }, 60_000);

/** A global install (npm install -g --prefix PREFIX): PREFIX/bin/ivsh links into PREFIX/lib/node_modules. */
function globalInstall(): string {
  const prefix = join(dir, "global prefix");
  const pkg = join(prefix, "lib/node_modules/ivsh");
  mkdirSync(join(pkg, "bin"), { recursive: true });
  copyFileSync(join(REPO, "bin/ivsh.mjs"), join(pkg, "bin/ivsh.mjs"));
  symlinkSync(join(REPO, "src"), join(pkg, "src"));
  symlinkSync(join(REPO, "package.json"), join(pkg, "package.json"));
  mkdirSync(join(prefix, "bin"));
  symlinkSync("../lib/node_modules/ivsh/bin/ivsh.mjs", join(prefix, "bin/ivsh"));
  symlinkSync(process.execPath, join(prefix, "bin/bun")); // npm install -g bun
  return prefix;
}

const prefix = globalInstall();

// A systemd unit or a cron job runs PREFIX/bin/ivsh by its full path, with a PATH that lacks PREFIX/bin.
test("a global install run by its full path, PATH without its bin: it runs the CLI with the bun beside it", async () => {
  expect(await versionOf([join(prefix, "bin/ivsh")], dir)).toEqual({ code: 0, stdout: version, stderr: "" });
}, 60_000);

// A bun on PATH that cannot be run (downloaded, never made executable): the shell's `[ -x ]` passes it
// over; under Node it was taken, and spawning it crashed with an unhandled 'error' event and a stack.
for (const [how, runner] of [
  ["run as a command", []],
  ["under Node", ["node"]],
] as const)
  test(`a global install, ${how}, with a bun on PATH that cannot be run: it runs the CLI with the bun beside it`, async () => {
    const unrunnable = join(dir, "unrunnable");
    mkdirSync(unrunnable, { recursive: true });
    writeFileSync(join(unrunnable, "bun"), "not a program\n", { mode: 0o644 });
    expect(
      await versionOf([...runner, join(prefix, "bin/ivsh")], dir, `${unrunnable}:${SYSTEM_PATH}`),
    ).toEqual({ code: 0, stdout: version, stderr: "" });
  }, 60_000);
