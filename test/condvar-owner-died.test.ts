/**
 * A CondVar waiter with no timeout, whose lock's next holder dies holding it: nobody will ever notify,
 * so the wait must end on the arbiter marking the lock owner-died (it wakes the slot), returning
 * "owner-died" with the lock held, rather than parking again on a sequence that will never move.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, livenessBoundMs, spawnFixture } from "./helpers/processes.ts";

const LEASE_MS = 5000;
let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("cv-owner-died");
  arbiter = await ArbiterProcess.start(paths, { lease: `${LEASE_MS}ms` });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

for (const futexParking of [true, false]) {
  describe(futexParking ? "parked on the futex" : "parked in the arbiter", () => {
    test("a wait() without a timeout ends owner-died when the lock's holder is killed", async () => {
      const name = `cv-owner-died-${futexParking}`;
      const client = await connect({ socket: paths.socket, region: paths.region, futexParking });
      let holder: ReturnType<typeof spawnFixture> | undefined;
      try {
        const condvar = await client.condvar(name);
        await condvar.acquire();
        const waiting = condvar.wait();
        holder = spawnFixture("holder", clientConfig(paths, { condvar: name, segment: `${name}-held` }));
        await holder.events.next("holding");
        holder.proc.kill("SIGKILL");
        const outlived = Bun.sleep(livenessBoundMs(LEASE_MS)).then(() => "still waiting");
        expect(await Promise.race([waiting, outlived])).toBe("owner-died");
        expect(condvar.owner).toBe(client.clientId);
        condvar.release();
      } finally {
        holder?.proc.kill("SIGKILL");
        await client.close();
      }
    }, 60_000);
  });
}
