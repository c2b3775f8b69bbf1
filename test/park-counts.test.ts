/**
 * A waiter takes its count back out of the slot's park record (futex) or queued count (arbiter) when its
 * park ends. A wait ended by the close of its own handle, the client's last on the slot, ends after the
 * arbiter freed the slot, and another client may have made a new object there by then: the waiter took
 * its count out of that object's fresh words, leaving -1. A -1 queued count hides the next waiter parked
 * in the arbiter (1 - 1 = 0), so a notify sends it no WAKE and it sleeps until the arbiter's next sweep.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { SyncWord } from "../src/region/layout.ts";
import { expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, livenessBoundMs } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("park-counts");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

const COUNTERS = {
  lockParked: SyncWord.lockParked,
  lockQueued: SyncWord.lockQueued,
  sequenceParked: SyncWord.sequenceParked,
  sequenceQueued: SyncWord.sequenceQueued,
};

for (const futexParking of [true, false]) {
  describe(futexParking ? "parked on the futex" : "parked in the arbiter", () => {
    test("a wait ended by the close of its handle leaves no count in the next object made in that slot", async () => {
      const closer = await connect({ socket: paths.socket, region: paths.region, futexParking });
      const maker = await connect({ socket: paths.socket, region: paths.region, futexParking });
      try {
        const name = `closed-while-waiting-${futexParking}`;
        const condvar = await closer.condvar(name);
        const words = closer.slotWords(condvar.slot);
        const counted = futexParking ? SyncWord.sequenceParked : SyncWord.sequenceQueued;
        await condvar.acquire();
        const waiting = condvar.wait();
        waiting.catch(() => undefined);
        const deadline = performance.now() + livenessBoundMs(5000);
        while (Atomics.load(words, counted) === 0 && performance.now() < deadline) await Bun.sleep(1);
        expect(Atomics.load(words, counted)).not.toBe(0);
        const closing = condvar.close();
        // Made while the waiter's park is still ending: the slot just freed is the one it gets. Both requests
        // are sent; this process reads no answer until the arbiter has had time to handle both.
        const making = maker.condvar(`${name}-next`);
        Bun.sleepSync(100);
        const fresh = await making;
        await closing;
        await expectRejection(waiting, "NotHeld", /its handle was closed/);
        expect(fresh.slot).toBe(condvar.slot);
        const freshWords = maker.slotWords(fresh.slot);
        const counters = Object.fromEntries(
          Object.entries(COUNTERS).map(([word, index]) => [word, Atomics.load(freshWords, index)]),
        );
        expect(counters).toEqual({ lockParked: 0, lockQueued: 0, sequenceParked: 0, sequenceQueued: 0 });
        await fresh.close();
      } finally {
        await Promise.all([closer.close(), maker.close()]);
      }
    }, 30_000);
  });
}
