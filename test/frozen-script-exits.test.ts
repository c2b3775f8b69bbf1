/**
 * A library script that forgets close() exits once its own work is done (README.md), even when it was
 * itself stopped (Ctrl-Z, SIGSTOP) past half its lease while its arbiter was stopped too: the lease
 * confirmation its client sends as it resumes (src/guest/lease-keeper.ts) is awaited by nobody, and an
 * arbiter that never answers it must not keep the script alive (found in review of minor37: it did, for
 * the client's whole reconnect timeout).
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, exitOrKill, spawnFixture } from "./helpers/processes.ts";
import { RECONNECT_MS, stopArbiter } from "./helpers/stopped-arbiter.ts";

const LEASE_MS = 1000;
/** A liveness bound with a generous margin for a loaded machine: never a speed. */
const BOUND_MS = 20_000;

let paths: TestPaths;
let arbiter: ArbiterProcess;
beforeEach(async () => {
  paths = testPaths("revn37-frozen-quitter");
  arbiter = await ArbiterProcess.start(paths, { lease: `${LEASE_MS}ms` });
});
afterEach(async () => {
  await arbiter.stop();
  paths.cleanup();
});

test("a script stopped past half its lease while its arbiter is stopped too, and that forgets close(), exits once its work is done", async () => {
  const config = { workMs: 4 * LEASE_MS, reconnectTimeoutMs: RECONNECT_MS };
  const script = spawnFixture("frozen-quitter", clientConfig(paths, config));
  let stopped: { resume(): void } | undefined;
  try {
    await script.events.next("ready", BOUND_MS);
    stopped = stopArbiter(arbiter);
    script.proc.kill("SIGSTOP");
    await Bun.sleep(2 * LEASE_MS); // past half a lease: resumed, its client confirms its lease
    script.proc.kill("SIGCONT");
    await script.events.next("done", BOUND_MS);
    // Before: late: the unanswered lease confirmation held its connection, and the process, until the
    // arbiter answered again (or the reconnect timeout, 120 s here).
    expect(await exitOrKill(script.proc, BOUND_MS)).toBe(0);
  } finally {
    stopped?.resume();
    script.proc.kill("SIGKILL");
  }
}, 90_000);
