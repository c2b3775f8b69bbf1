/**
 * The helper's install once per process (src/ffi/native/fault.c `install`): a thread that calls in while
 * another installs waits for it and returns its result, instead of returning before the handler is in
 * place (its copies from a mapped file would then die of a truncation instead of failing cleanly). A C
 * program (test/fixtures/install-race.c) linked to the built helper holds the first install open until
 * the second call returns, or for at most 3 s: with the wait, the second returns 0 after the first.
 */
import { afterAll, expect } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { BUILT_LIBRARY } from "../src/ffi/native.ts";
import { FIXTURES } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { testUnless, toolMissing } from "./helpers/tools.ts";

const dir = mkdtempSync(join("/tmp", "ivsh-install-race-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cannot =
  toolMissing("cc") ??
  (existsSync(BUILT_LIBRARY) ? undefined : `${BUILT_LIBRARY} is not built (npm run build:native)`);

testUnless(
  cannot,
  "a second thread loading the helper during the first's install waits for its result",
  async () => {
    const program = join(dir, "install-race");
    const libraryDir = dirname(BUILT_LIBRARY);
    const link = [`-L${libraryDir}`, "-l:libivsh-native.so", `-Wl,-rpath,${libraryDir}`, "-lpthread", "-ldl"];
    // -rdynamic: the helper's calls of sigaction reach the program's own (the hold).
    const compile = ["cc", "-O2", "-rdynamic", "-o", program, join(FIXTURES, "install-race.c"), ...link];
    const built = Bun.spawnSync(compile, { stderr: "pipe" });
    expect(built.exitCode, built.stderr.toString()).toBe(0);
    const run = tracked(Bun.spawn([program], { stdout: "pipe", stderr: "pipe" }));
    const said = new Response(run.stdout).text();
    expect(await exitOrKill(run, EXIT_BOUND_MS)).toBe(0);
    // The first install's result, then the second call's: both the handler in place.
    expect(await said).toBe("0 0\n");
  },
);
