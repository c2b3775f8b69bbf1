/**
 * A waiter that parked takes the lock with the WAITERS bit set (src/guest/sync.ts, parkForLock): others
 * may still be parked behind it, and only that bit makes its unlock wake them. Taken without it, the next
 * waiter slept on until the arbiter's sweep noticed the word had changed. B, a holder process parked in
 * the arbiter, and C, a raw client's WAIT behind it; this process unlocks, B takes the lock, and the word
 * must still say someone waits.
 */
import { expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { LOCK_OWNER_MASK, LOCK_WAITERS, SlotWord } from "../src/region/layout.ts";
import { clientConfig, eventually, spawnFixture } from "./helpers/processes.ts";
import { rawClient } from "./helpers/raw.ts";
import { rawMutexWaiter } from "./helpers/raw-waiter.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("lock-waiters-kept");

test("a parked waiter that takes the lock keeps the WAITERS bit for the waiter parked behind it", async () => {
  const name = "waiters-kept";
  const holder = await connect({ socket: suite.socket, region: suite.region, futexParking: false });
  const waiter = await rawClient(suite.socket);
  const mutex = await holder.mutex(name);
  await mutex.lock();
  const b = spawnFixture(
    "holder",
    clientConfig(suite.paths, {
      mutex: name,
      segment: `${name}-b`,
      futexParking: false,
      unlockOnCommand: true,
    }),
  );
  try {
    const c = await rawMutexWaiter(holder, waiter, name);
    await eventually(async () => (await c.waitersOnSlot()) === 1, 20_000, "B's lock() parked in the arbiter");
    const waited = c.park();
    await eventually(async () => (await c.waitersOnSlot()) === 2, 20_000, "C's WAIT parked behind B");
    mutex.unlock(); // its one wake-up goes to B, parked first
    const { clientId } = await b.events.next("holding");
    const word = Atomics.load(c.words, SlotWord.lock);
    expect(word & LOCK_OWNER_MASK).toBe(clientId as number);
    expect(word & LOCK_WAITERS).toBe(LOCK_WAITERS);
    b.proc.stdin.write("unlock\n");
    b.proc.stdin.flush();
    await b.events.next("unlocked");
    await c.outcome(waited); // woken by B's unlock (or, without the bit, by the sweep)
  } finally {
    b.proc.kill("SIGKILL");
    await b.proc.exited;
    waiter.socket.end();
    await mutex.close();
    await holder.close();
  }
}, 60_000);
