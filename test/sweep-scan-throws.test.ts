/**
 * The sweep's scans (waits rechecked, the region guard, transfers sampled, compaction started) run in
 * slices as a promise kept while they go on. One that threw (a bug) left that promise rejected for good:
 * every later sweep took the scans for still going, and none ran again for as long as the arbiter ran (its
 * journal never compacted again). The bug is reported, as every bug outside a command's run is, and the
 * next sweep scans again. A real `ivsh host`, the bug preloaded into it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, FIXTURES, type TestPaths, testPaths } from "./helpers/paths.ts";
import { eventually, livenessBoundMs, spawnBun } from "./helpers/processes.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("sweep-scan-throws");
});
afterAll(() => paths?.cleanup());

const LEASE_MS = 4000;

test("a sweep's scan that throws once is reported, and the next sweeps scan again", async () => {
  const scanLog = join(paths.dir, "scans");
  const host = spawnBun(
    [
      ...["--preload", join(FIXTURES, "scan-bug.ts"), CLI, "host", "--region", paths.region],
      ...["--socket", paths.socket, "--state", paths.state, "--size", "1MiB", "--lease", `${LEASE_MS}ms`],
    ],
    { SCAN_LOG: scanLog },
  );
  try {
    // Sweeps come every quarter lease: two scans after the one that threw, within a generous bound.
    const scans = () => (existsSync(scanLog) ? readFileSync(scanLog, "utf8").split("\n").length - 1 : 0);
    await eventually(async () => scans() >= 2, livenessBoundMs(LEASE_MS), "the scans run again");
  } finally {
    host.proc.kill("SIGTERM");
  }
  // Reported as a bug (in ivsh's words, on its log), and the arbiter's exit says one happened.
  expect(await host.exit()).toBe(1);
  expect(await host.stderr).toContain("planted: a scan's bug");
}, 60_000); // bun's own 5 s, when the file runs alone, is shorter than the wait's liveness bound
