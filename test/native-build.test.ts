/**
 * The native helper's build (scripts/native.mjs, the package's postinstall) with the compilers users have:
 * run in a copy of the files it builds from, so the checkout's own build/native is not touched.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, type TestPaths, testPaths } from "./helpers/paths.ts";
import { testUnless, toolMissing } from "./helpers/tools.ts";

let paths: TestPaths;
let copy: string;

beforeAll(() => {
  paths = testPaths("native-build");
  copy = join(paths.dir, "package");
  mkdirSync(join(copy, "scripts"), { recursive: true });
  cpSync(join(REPO, "scripts/native.mjs"), join(copy, "scripts/native.mjs"));
  cpSync(join(REPO, "src/ffi/native"), join(copy, "src/ffi/native"), { recursive: true });
});
afterAll(() => paths?.cleanup());

/** `node scripts/native.mjs --optional` in the copy, as npm runs it, with CC set to `compiler`. */
async function build(compiler: string) {
  rmSync(join(copy, "build"), { recursive: true, force: true });
  const proc = Bun.spawn(["node", "scripts/native.mjs", "--optional"], {
    cwd: copy,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, CC: compiler },
  });
  const [exitCode, stdout, stderr] = await Promise.all([
    proc.exited,
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
  ]);
  const built = existsSync(join(copy, "build/native/libivsh-native.so"));
  return { exitCode, output: `${stdout}${stderr}`, built };
}

/** A compiler that fails without a word: killed by a signal, or exiting 1 as /bin/false does. */
test('a compiler that fails saying nothing: the note says how it ended, not "failed: ;"', async () => {
  const killed = join(paths.dir, "killed-cc");
  writeFileSync(killed, "#!/bin/sh\nkill -9 $$\n");
  chmodSync(killed, 0o755);
  for (const [compiler, ending] of [
    ["/bin/false", "exit status 1"],
    [killed, "SIGKILL"],
  ] as const) {
    const result = await build(compiler);
    expect(result.exitCode, result.output).toBe(0);
    expect(result.built).toBe(false);
    expect(result.output).toContain(`'${compiler}' failed`);
    expect(result.output).toContain(ending);
    expect(result.output).not.toContain("failed: ;");
  }
});

// CC is a command, as make and node-gyp take it: "ccache cc", "cc -m64". The whole value was run as one
// program's name, so the install said there was no C compiler 'cc -g' and used the portable path.
test("a CC holding arguments ('cc -g') builds the helper", async () => {
  const result = await build("cc -g");
  expect(result.output).not.toContain("there is no C compiler");
  expect(result.built, result.output).toBe(true);
});

/** The newest GLIBC_x.y an ELF file's undefined dynamic symbols ask for, and which symbols ask for each. */
function glibcVersions(file: string): Map<string, string[]> {
  const listed = Bun.spawnSync(["readelf", "--dyn-syms", "--wide", file], { stdout: "pipe" });
  expect(listed.exitCode).toBe(0);
  const needs = new Map<string, string[]>();
  for (const [, symbol, version] of listed.stdout.toString().matchAll(/ UND (\w+)@GLIBC_([\d.]+)/g))
    needs.set(version!, [...(needs.get(version!) ?? []), symbol!]);
  return needs;
}

const newer = (a: string, b: string) => {
  const [x, y] = [a, b].map((version) => version.split(".").map(Number));
  for (let i = 0; i < Math.max(x!.length, y!.length); i++)
    if ((x![i] ?? 0) !== (y![i] ?? 0)) return (x![i] ?? 0) > (y![i] ?? 0);
  return false;
};

// The compiled ivsh embeds the helper built where it was built, and runs wherever Bun runs (the Bun here
// asks for glibc 2.17). fstat and pthread_once, built against glibc 2.33/2.34 or later, ask for those
// versions: the binary then ran without its helper (portable, no fault explanations) on Debian 11, Ubuntu
// 20.04, RHEL 8.
testUnless(
  toolMissing("readelf") ?? toolMissing("cc"),
  "the helper asks for no newer glibc than Bun itself does",
  async () => {
    const result = await build("cc");
    expect(result.built, result.output).toBe(true);
    const bun = [...glibcVersions(process.execPath).keys()].reduce((a, b) => (newer(b, a) ? b : a));
    const helper = glibcVersions(join(copy, "build/native/libivsh-native.so"));
    const beyond = [...helper].filter(([version]) => newer(version, bun));
    expect(beyond.map(([version, symbols]) => `GLIBC_${version}: ${symbols.join(", ")}`)).toEqual([]);
  },
);
