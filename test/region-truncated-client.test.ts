/**
 * Found in trial 31: the region file truncated (`truncate -s 0 REGION`) while a client waited on it. The
 * client died of the fault (SIGBUS), and the arbiter, ending its session, released its locks in the
 * missing pages and died of a bus error too, leaving a stale socket, where its sweep would have said what
 * happened and exited. A connection's close now looks at the region's size first: the arbiter exits 1
 * saying the region was truncated, as its sweep does.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { truncateSync } from "node:fs";
import { join } from "node:path";
import { fetchStatus } from "../src/guest/inspect.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually } from "./helpers/processes.ts";
import { guest } from "./helpers/transfer.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("region-truncated-client");
});
afterAll(() => paths?.cleanup());

test("the region truncated under a waiting receiver: the arbiter exits 1 saying so, not of a bus error", async () => {
  const arbiter = await ArbiterProcess.start(paths);
  const receiver = guest(paths, ["recv", "--channel", "tr", "--out", join(paths.dir, "out")]);
  try {
    // Waiting: parked on its channel's slot. (Its slot alone was not enough: a request of its set-up, its
    // wait among them, that came after the truncation read the missing page and faulted the arbiter.)
    await eventually(
      async () => (await fetchStatus({ unix: paths.socket })).report.sync.some((slot) => slot.waiters > 0),
      20_000,
      "the receiver waiting on its channel",
    );
    truncateSync(paths.region, 0);
    const { proc } = arbiter.spawned;
    // A liveness bound: the sweep (once a second) says it too, if no connection closes first.
    await arbiter.spawned.exit(20_000).catch(() => undefined);
    const stderr = await arbiter.spawned.stderr;
    // Before: signal SIGBUS, exit code null, no word of the truncation.
    expect({ signal: proc.signalCode, code: proc.exitCode }, stderr).toEqual({ signal: null, code: 1 });
    expect(stderr).toContain(`the region file ${paths.region} was truncated to 0 bytes`);
  } finally {
    receiver.proc.kill("SIGKILL");
    await receiver.proc.exited;
    await arbiter.stop().catch(() => undefined);
  }
});
