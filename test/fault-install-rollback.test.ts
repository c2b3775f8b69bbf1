/**
 * The helper's install refused part way (src/ffi/native/fault.c `install_once`): when its sigaction for
 * SIGBUS fails after the one for SIGSEGV succeeded, the helper reports no handler (the guard fails, the
 * fault is not explained) and must leave none: its SIGSEGV handler is taken back. A C program
 * (test/fixtures/install-refused.c) linked to the built helper guards a page, says what the handlers are
 * and touches the page, under strace failing one rt_sigaction call. Its own calls come only after the
 * helper's two, so the Nth is the helper's Nth (the log is checked to be sure).
 */
import { afterAll, expect } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { BUILT_LIBRARY } from "../src/ffi/native.ts";
import { FIXTURES } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { straceUnusable, testUnless, toolMissing } from "./helpers/tools.ts";

const dir = mkdtempSync(join("/tmp", "ivsh-install-rollback-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cannot =
  toolMissing("cc") ??
  straceUnusable() ??
  (existsSync(BUILT_LIBRARY) ? undefined : `${BUILT_LIBRARY} is not built (npm run build:native)`);

/** The fixture built against the helper; once per file. */
let program: string | undefined;
function built(): string {
  if (program) return program;
  const made = join(dir, "install-refused");
  const libraryDir = dirname(BUILT_LIBRARY);
  const link = [`-L${libraryDir}`, "-l:libivsh-native.so", `-Wl,-rpath,${libraryDir}`];
  const compile = Bun.spawnSync(["cc", "-O2", "-o", made, join(FIXTURES, "install-refused.c"), ...link], {
    stderr: "pipe",
  });
  expect(compile.exitCode, compile.stderr.toString()).toBe(0);
  program = made;
  return made;
}

/** The fixture under strace, its rt_sigaction call number `refused` failed (none if 0): what it said. */
async function run(refused: number) {
  const log = join(dir, `strace-${refused}.log`);
  const inject = refused ? ["-e", `inject=rt_sigaction:error=EINVAL:when=${refused}`] : [];
  const strace = ["strace", "-f", "-o", log, "-e", "trace=rt_sigaction", ...inject, built()];
  const child = tracked(Bun.spawn(strace, { stdout: "pipe", stderr: "pipe" }));
  const said = Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  expect(await exitOrKill(child, EXIT_BOUND_MS)).not.toBe("late");
  const [stdout, stderr] = await said;
  return { stdout, stderr, log: readFileSync(log, "utf8") };
}

testUnless(cannot, "the helper's install in full: both handlers its own, the fault explained", async () => {
  const { stdout, stderr, log } = await run(0);
  expect(stdout).toBe("0 handled handled\n");
  expect(stderr).toContain("ivsh: this process touched shared memory it holds no grant for: offset 0x0");
  expect(log).toContain("+++ killed by SIGSEGV +++");
});

for (const [refused, signal] of [
  [1, "SIGSEGV"],
  [2, "SIGBUS"],
] as const)
  testUnless(
    cannot,
    `the helper's sigaction for ${signal} refused: no handler of its left, the fault ends the process unexplained`,
    async () => {
      const { stdout, stderr, log } = await run(refused);
      // The call refused was the helper's install for that signal.
      expect(log).toMatch(new RegExp(`rt_sigaction\\(${signal}, \\{sa_handler=0x.*\\(INJECTED\\)`));
      // Before the rollback, SIGBUS refused: "-1 handled default" (SIGSEGV's handler left the helper's).
      expect(stdout).toBe("-1 default default\n");
      expect(stderr).toBe("");
      expect(log).toContain("+++ killed by SIGSEGV +++");
    },
  );
