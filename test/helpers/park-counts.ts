/**
 * The check test/park-counts.test.ts makes, and test/generation-wrap.test.ts makes again after the slot
 * generations wrapped: a wait ended by the close of its own handle (the client's last on the slot) must
 * take its count out of that object's words, not out of the next object another client made in the slot.
 */
import { expect } from "bun:test";
import { connect } from "../../src/guest/index.ts";
import { SyncWord } from "../../src/region/layout.ts";
import { expectRejection } from "./errors.ts";
import type { TestPaths } from "./paths.ts";
import { livenessBoundMs } from "./processes.ts";

const COUNTERS = {
  lockParked: SyncWord.lockParked,
  lockQueued: SyncWord.lockQueued,
  sequenceParked: SyncWord.sequenceParked,
  sequenceQueued: SyncWord.sequenceQueued,
};

export async function expectNoCountLeftByClosedWait(paths: TestPaths, futexParking: boolean): Promise<void> {
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
}
