/**
 * An arbiter restarted with a shorter --lease resumes its clients' sessions under the new lease. A client's
 * heartbeat timer was armed once, at its first hello, for the lease then (a sixth of it): an idle client
 * went on heartbeating every 10 s against a 2 s lease and lost its session, its grants and locks released,
 * told "the process ... was stopped, paused or starved of CPU" though it never was. A real `ivsh host`,
 * stopped and started again on the same state with the other lease.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, eventually, livenessBoundMs } from "./helpers/processes.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("lease-changed-on-restart");
});
afterAll(() => paths?.cleanup());

const [FIRST_LEASE, NEW_LEASE_MS] = ["60s", 2000];

test("an idle client keeps its session after its arbiter restarts with a shorter lease", async () => {
  const flags = { lease: FIRST_LEASE };
  const arbiter = await ArbiterProcess.start(paths, flags);
  const client = await connect(clientConfig(paths));
  try {
    const segment = await client.alloc(64 << 10, { name: "kept" });
    await arbiter.stop();
    flags.lease = `${NEW_LEASE_MS}ms`;
    await arbiter.restart();
    await eventually(async () => client.reconnects === 1, livenessBoundMs(NEW_LEASE_MS), "the resume");
    expect(client.leaseMs).toBe(NEW_LEASE_MS);
    // Idle for three new leases: the arbiter ends a session silent for one at its second sweep to find it so.
    await Bun.sleep(3 * NEW_LEASE_MS);
    expect(client.lost?.message).toBeUndefined();
    // Still its holder: not released as a lost lease's grants are.
    const report = await client.status();
    expect(report.clients.map((listed) => listed.clientId)).toContain(client.clientId);
    await segment.free();
  } finally {
    await client.close({ waitForArbiter: false });
    await arbiter.stop();
  }
}, 60_000);
