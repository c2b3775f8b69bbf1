/**
 * A client used after its close(): every call fails at once, saying so, instead of waiting for an answer
 * that cannot come (the process then spun a core, its loop held by nothing it could wait on); a call
 * still waiting when close() runs is failed too; segments refuse their bytes, and freeing one is no error
 * (close() gave everything back already). An unlock during the goodbye is a real one. A client that failed
 * before (an unreadable frame) tells that failure, not the close it caused. after-close-faults.test.ts: the
 * shared memory close() unmaps, no longer read.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Socket } from "bun";
import { connect } from "../src/guest/index.ts";
import { SlotWord } from "../src/region/layout.ts";
import { expectFailure, expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, eventually, spawnFixture } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("after-close");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("requests after close() fail at once, naming the close", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region });
  await client.close();
  const closed = /this client was closed \(connect\(\) again/;
  await expectRejection(client.alloc(100), "ConnectionLost", closed);
  await expectRejection(client.mutex("after-close"), "ConnectionLost", closed);
  await expectRejection(client.status(), "ConnectionLost", closed);
  expect(client.isClosed).toBe(true);
});

test("a condvar wait in progress when close() runs fails instead of waiting for ever", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region, futexParking: false });
  const condvar = await client.condvar("after-close-cv");
  await condvar.lock();
  const waiting = condvar.wait();
  waiting.catch(() => undefined);
  await Bun.sleep(50); // parked in the arbiter by now
  await client.close();
  await expectRejection(waiting, "ConnectionLost", /this client was closed/);
});

// Found by a trial: both failed with "Failed to get an answer from the arbiter since this client was
// closed (connect() again to go on)", naming neither the call nor the lock.
test.each([false, true])(
  "a lock() and a wait() parked when close() runs name themselves (futexParking %p)",
  async (futexParking) => {
    const where = { socket: paths.socket, region: paths.region };
    const holder = await connect(where);
    const client = await connect({ ...where, futexParking });
    await (await holder.mutex("named-on-close")).lock();
    const locking = (await client.mutex("named-on-close")).lock();
    const condvar = await client.condvar("named-on-close-cv");
    await condvar.lock();
    const waiting = condvar.wait();
    for (const pending of [locking, waiting]) pending.catch(() => undefined);
    await Bun.sleep(300); // parked by now, in the arbiter or on the futex
    await client.close();
    const closed = /since this client was closed while it waited \(close\(\) or shm_finish\(\)\)/;
    await expectRejection(locking, "ConnectionLost", new RegExp(`lock 'named-on-close' ${closed.source}`));
    await expectRejection(
      waiting,
      "ConnectionLost",
      new RegExp(`wait on 'named-on-close-cv' ${closed.source}`),
    );
    await holder.close();
  },
);

test("a segment of a closed client refuses its bytes; freeing it is no error", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region });
  const segment = await client.alloc(100);
  segment.bytes[0] = 7;
  await client.close();
  expectFailure(() => segment.bytes, "ConnectionLost", /its client was closed/);
  await segment.free();
  expect(segment.isFreed).toBe(true);
});

test("a segment of a closed client freed twice: the second free() says it was freed already, as with a live client", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region });
  const segment = await client.alloc(100);
  await client.close();
  await segment.free();
  await expectRejection(segment.free(), "NotHeld", /it was freed already \(free a segment once\)/);
});

// Found by a trial: free() while close() ran failed with "Failed to get an answer from the arbiter since
// this client was closed", though the goodbye gives everything back and free() after close() is no error.
test("freeing a segment while close() runs is no error either, and the blocks come back", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region });
  const segment = await client.alloc(100, { name: "freed-while-closing" });
  const closing = client.close();
  await segment.free();
  expect(segment.isFreed).toBe(true);
  await closing;
  const observer = await connect({ socket: paths.socket, region: paths.region });
  expect((await observer.status()).segments).toEqual([]);
  await observer.close();
});

test("a mutex of a closed client: lock fails, unlock is no error (the goodbye released it), owner fails", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region });
  const mutex = await client.mutex("after-close-lock");
  const next = await connect({ socket: paths.socket, region: paths.region });
  const nextMutex = await next.mutex("after-close-lock");
  await mutex.lock();
  await client.close();
  await expectRejection(mutex.lock(), "ConnectionLost", /its client was closed/);
  mutex.unlock();
  expectFailure(() => mutex.owner, "ConnectionLost", /its client was closed/);
  // Released for the others: the next taker is told its holder went away without unlocking.
  expect(await nextMutex.lock()).toBe("owner-died");
  await next.close();
});

// Found by a package trial: each said "Failed to get an answer from the arbiter since this client was closed
// (connect() again to go on)", naming neither the call nor the lock, where a segment's bytes name theirs.
test("a lock(), tryLock() or wait() after close() names the call and the lock", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region });
  const mutex = await client.mutex("named-after-close");
  const condvar = await client.condvar("named-after-close-cv");
  await condvar.lock();
  await client.close();
  const closed = "since its client was closed \\(connect\\(\\) again\\)$";
  await expectRejection(
    mutex.lock(),
    "ConnectionLost",
    new RegExp(`^Failed to lock 'named-after-close' ${closed}`),
  );
  expectFailure(
    () => mutex.tryLock(),
    "ConnectionLost",
    new RegExp(`^Failed to lock 'named-after-close' ${closed}`),
  );
  await expectRejection(
    condvar.wait(),
    "ConnectionLost",
    new RegExp(`^Failed to wait on 'named-after-close-cv' ${closed}`),
  );
});

// Found by new-user trial 36: notify() and broadcast() still said "Failed to get an answer from the arbiter
// since this client was closed", which they never ask for, naming neither the call nor the condvar.
test("a notify() or broadcast() after close() names the call and the condvar", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region });
  const condvar = await client.condvar("signalled-after-close");
  await client.close();
  const closed = "since its client was closed \\(connect\\(\\) again\\)$";
  const notified = new RegExp(`^Failed to notify 'signalled-after-close' ${closed}`);
  expectFailure(() => condvar.notify(), "ConnectionLost", notified);
  const broadcast = new RegExp(`^Failed to broadcast on 'signalled-after-close' ${closed}`);
  expectFailure(() => condvar.broadcast(), "ConnectionLost", broadcast);
});

// Found by new-user trial 36: each said "Failed to get an answer from the arbiter since this client was
// closed", naming neither the call nor the segment or lock it was for.
test("alloc(), open(), mutex(), condvar() or status() after close() name the call and what it was for", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region });
  await client.close();
  const closed = "since this client was closed \\(connect\\(\\) again to go on\\)$";
  const refused = (action: string) => new RegExp(`^Failed to ${action} ${closed}`);
  await expectRejection(client.alloc(10), "ConnectionLost", refused("allocate a segment"));
  await expectRejection(
    client.alloc(10, { name: "frame" }),
    "ConnectionLost",
    refused("allocate segment 'frame'"),
  );
  await expectRejection(client.open("frame"), "ConnectionLost", refused("open segment 'frame'"));
  await expectRejection(client.mutex("guard"), "ConnectionLost", refused("open mutex 'guard'"));
  await expectRejection(client.condvar("ready"), "ConnectionLost", refused("open condvar 'ready'"));
  await expectRejection(client.status(), "ConnectionLost", refused("ask the arbiter for its status"));
});

// Found by a review: the test above's fix took any ConnectionLost of a closed client for its close's own, so
// a session lost first to an arbiter that did not come back was told "its client was closed" by a lock(),
// where a request after the close still says the arbiter did not come back.
test("a lock(), tryLock() or wait() after close() of a session lost first tells that loss, as a request does", async () => {
  const gonePaths = testPaths("after-close-gone");
  const gone = await ArbiterProcess.start(gonePaths);
  try {
    const where = { socket: gonePaths.socket, region: gonePaths.region, reconnectTimeoutMs: 200 };
    const client = await connect(where);
    const mutex = await client.mutex("lost-before-close");
    const condvar = await client.condvar("lost-before-close-cv");
    await condvar.lock();
    await gone.stop();
    const notBack =
      /^Failed to reach the arbiter at .* again since it went away and did not come back within 200 ms/;
    await expectRejection(client.alloc(64), "ConnectionLost", notBack);
    await client.close();
    await expectRejection(client.alloc(64), "ConnectionLost", notBack);
    await expectRejection(mutex.lock(), "ConnectionLost", notBack);
    expectFailure(() => mutex.tryLock(), "ConnectionLost", notBack);
    await expectRejection(condvar.wait(), "ConnectionLost", notBack);
  } finally {
    await gone.stop();
    gonePaths.cleanup();
  }
});

test("a condvar of a closed client: wait() fails, and unlock() after a notify under the lock is no error", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region });
  const condvar = await client.condvar("after-close-notified");
  await condvar.lock();
  condvar.notify(); // owes a wake-up, paid at unlock
  await client.close();
  await expectRejection(condvar.wait(), "ConnectionLost", /its client was closed/);
  condvar.unlock(); // touched the unmapped slots before
});

// Found by a review: a handle's close() after its client's failed with "Failed to get an answer from the
// arbiter since this client was closed", though the goodbye released the client's holds, as for free().
test("closing a mutex or condvar handle after or during its client's close() is no error", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region });
  const mutex = await client.mutex("closed-after-client");
  const condvar = await client.condvar("closed-during-client");
  const closing = client.close();
  await condvar.close();
  await closing;
  await mutex.close();
  const observer = await connect({ socket: paths.socket, region: paths.region });
  expect((await observer.status()).sync).toEqual([]);
  await observer.close();
});

test("after many clients of one process closed, a stray touch is still explained (the guard is not used up)", async () => {
  // The native guard holds 64 ranges: closed clients must not keep theirs for ever.
  const child = spawnFixture("toucher", clientConfig(paths, { action: "after-close", cycles: 70 }));
  await child.exit();
  expect(child.proc.signalCode).toBe("SIGSEGV");
  expect(await child.stderr).toContain("its client closed, or its session lost");
});

test("unlock() during close()'s goodbye is a real unlock: the next taker, another process, gets the lock cleanly", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region });
  const mutex = await client.mutex("unlocked-during-goodbye");
  await mutex.lock();
  const taker = spawnFixture("taker", clientConfig(paths, { mutex: "unlocked-during-goodbye" }));
  await taker.events.next("locking");
  // The arbiter stopped, so the goodbye is surely still unread when unlock() runs.
  arbiter.spawned.proc.kill("SIGSTOP");
  let closing: Promise<void>;
  try {
    closing = client.close();
    mutex.unlock(); // the goodbye is on its way, not answered: the lock is still this client's to let go
  } finally {
    arbiter.spawned.proc.kill("SIGCONT");
  }
  await closing;
  // Not the arbiter's release of a holder that left without unlocking ("owner-died"), nor held still.
  expect(await taker.events.next("locked")).toEqual({ event: "locked", ok: true, outcome: "acquired" });
  expect(await taker.exit()).toBe(0);
});

test("unlock() late in close()'s goodbye, after the arbiter released the lock, is no error either", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region });
  const mutex = await client.mutex("unlocked-late-in-goodbye");
  await mutex.lock();
  const closing = client.close();
  // Without a turn of the event loop, so the answer to the goodbye is not read yet: the arbiter, another
  // process, has released the lock (owner-died for the next taker) when this sees the word change.
  const deadline = performance.now() + 20_000;
  while (mutex.owner === client.clientId && performance.now() < deadline);
  expect(mutex.owner).toBe(0);
  expect(client.isClosed).toBe(false);
  mutex.unlock(); // threw NotHeld ("it is not locked"): whether it did depended on the arbiter's timing
  await closing;
});

// Left open by an earlier session: a lock taken after the goodbye was read held the word for a session the
// arbiter had ended, until its sweep released it (owner-died for the next taker, up to a second later).
test("tryLock() and lock() once close() has begun are refused: the next taker gets the lock cleanly", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region });
  const mutex = await client.mutex("locked-after-goodbye");
  // Another client keeps the slot open: else the goodbye frees it, and the stale handle says so.
  const next = await connect({ socket: paths.socket, region: paths.region });
  const nextMutex = await next.mutex("locked-after-goodbye");
  const held = await client.mutex("held-through-goodbye");
  await held.lock();
  const closing = client.close();
  // Without a turn of the event loop: once the arbiter (another process) has released `held`, it has
  // read the goodbye and ended the session, whose id a lock word must no longer carry.
  const deadline = performance.now() + 20_000;
  while (held.owner === client.clientId && performance.now() < deadline);
  expect(held.owner).toBe(0);
  const refused = /lock 'locked-after-goodbye' since its client is closing/;
  expectFailure(() => mutex.tryLock(), "ConnectionLost", refused);
  await expectRejection(mutex.lock(), "ConnectionLost", refused);
  await closing;
  expect(await nextMutex.lock(5_000)).toBe("acquired");
  await next.close();
});

// With no other client holding its slot, the goodbye frees it: a lock() racing the arbiter's reading of the
// goodbye failed, by that timing, with NotHeld "slot N now holds another object (the handle is stale)".
test("tryLock() and lock() once close() has begun say so, though the goodbye has freed the slot meanwhile", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region });
  const mutex = await client.mutex("freed-by-goodbye");
  const held = await client.mutex("held-until-goodbye");
  await held.lock();
  const closing = client.close();
  // Without a turn of the event loop: once the arbiter (another process) has released `held`, it has read
  // the goodbye, and freed both slots, which no other client holds.
  const deadline = performance.now() + 20_000;
  while (held.owner === client.clientId && performance.now() < deadline);
  expect(held.owner).toBe(0);
  const refused = /lock 'freed-by-goodbye' since its client is closing \(close\(\) has begun/;
  expectFailure(() => mutex.tryLock(), "ConnectionLost", refused);
  await expectRejection(mutex.lock(), "ConnectionLost", refused);
  await closing;
});

// Its re-lock refused once close() had begun (61fba4f), a wait() that timed out or was notified failed
// naming "lock 'cv'", a call its caller never made; a parked one names "wait on 'cv'" (above).
test("a wait() ended once close() has begun fails naming the wait, not the lock it takes back", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region });
  const condvar = await client.condvar("relock-after-goodbye");
  // Another client keeps the slot open: else the goodbye may free it first, and the stale handle says so.
  const other = await connect({ socket: paths.socket, region: paths.region });
  await other.condvar("relock-after-goodbye");
  await condvar.lock();
  const waiting = condvar.wait(0); // times out at once: only its re-lock is left, in a microtask
  waiting.catch(() => undefined);
  const closing = client.close(); // begun before that re-lock runs
  await expectRejection(
    waiting,
    "ConnectionLost",
    /wait on 'relock-after-goodbye' since its client is closing \(close\(\) has begun/,
  );
  await closing;
  await other.close();
});

// A wait() begun once close() had begun was told NotHeld "acquire() it first", which close() then refuses;
// the closing lasts up to a lease with the arbiter away (0bef4eee), so a worker's wait lands in it.
test("a wait() begun once close() has begun says the client is closing, not to acquire() the lock", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region });
  const mutex = await client.mutex("guard-while-closing");
  const condvar = await client.condvar("wait-while-closing");
  await mutex.lock();
  const closing = client.close();
  const refused = /wait on 'wait-while-closing' since its client is closing \(close\(\) has begun/;
  await expectRejection(condvar.wait(100), "ConnectionLost", refused);
  await expectRejection(condvar.wait(), "ConnectionLost", refused);
  await closing;
});

test("a request after an earlier failure names that failure, not the close it caused", async () => {
  // Between the client and the arbiter, passing bytes both ways, until the test sends the client garbage.
  const proxied = `${paths.dir}/garbling.sock`;
  const clientSides: Socket<Relay>[] = [];
  const proxy = Bun.listen<Relay>({
    unix: proxied,
    socket: {
      open(clientSide) {
        clientSide.data = { early: [] };
        clientSides.push(clientSide);
        void Bun.connect({
          unix: paths.socket,
          socket: { data: (_, bytes) => void clientSide.write(bytes), close: () => void clientSide.end() },
        }).then((arbiterSide) => {
          for (const bytes of clientSide.data.early) arbiterSide.write(bytes);
          clientSide.data.arbiterSide = arbiterSide;
        });
      },
      data(clientSide, bytes) {
        if (clientSide.data.arbiterSide) clientSide.data.arbiterSide.write(bytes);
        else clientSide.data.early.push(Uint8Array.from(bytes));
      },
      close(clientSide) {
        clientSide.data.arbiterSide?.end();
      },
    },
  });
  try {
    const client = await connect({ socket: proxied, region: paths.region });
    await (await client.alloc(100)).free(); // the relay works
    // A frame header whose length field is below the header's own 12 bytes: the client cannot read on.
    clientSides[0]!.write(Uint8Array.of(5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
    await eventually(async () => client.lost !== undefined, 10_000, "the client reading the bad frame");
    // It closed its transport itself; what the next calls tell is why, not "this client was closed".
    const why = /length field says 5 bytes/;
    await expectRejection(client.alloc(100), "BadFrame", why);
    await expectRejection(client.mutex("after-bad-frame"), "BadFrame", why);
    await client.close();
    await expectRejection(client.status(), "BadFrame", why);
  } finally {
    proxy.stop(true);
  }
});

/** A relayed connection: the arbiter's end once connected, and what the client sent before that. */
interface Relay {
  arbiterSide?: Socket<undefined>;
  early: Uint8Array[];
}

// Mutation round 30: notify() and broadcast() bump the sequence word of the handle's slot; on a closed
// handle (the object kept open by another) nothing refused them, and the sequence moved for nobody. A
// wait() on it says the handle was closed, not that the lock is not held.
test("notify(), broadcast() or wait() on a closed condvar handle throws, and the sequence does not move", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region });
  try {
    const kept = await client.condvar("notify-after-close");
    const closed = await client.condvar("notify-after-close");
    await closed.close();
    const words = client.slotWords(kept.slot);
    const sequence = Atomics.load(words, SlotWord.sequence);
    const handleClosed = /^Failed to use 'notify-after-close' since its handle was closed \(open it again\)$/;
    expectFailure(() => closed.notify(), "NotHeld", handleClosed);
    expectFailure(() => closed.broadcast(), "NotHeld", handleClosed);
    await expectRejection(closed.wait(), "NotHeld", handleClosed); // not "does not hold its lock"
    expect(Atomics.load(words, SlotWord.sequence)).toBe(sequence);
    kept.notify(); // the open handle still can
    expect(Atomics.load(words, SlotWord.sequence)).toBe(sequence + 1);
  } finally {
    await client.close();
  }
});
