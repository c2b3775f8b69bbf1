/** WAKE is one-way by default: the arbiter answers it only when asked to, or when it fails. */
import { expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { decodeError, decodeFields, encodeFrame } from "../src/protocol/codec.ts";
import {
  FrameKind,
  messages,
  PROTOCOL_VERSION,
  SyncCreate,
  WAIT_FOREVER,
  WaitOutcome,
  WIRE_MAGIC,
} from "../src/protocol/messages.ts";
import { LOCK_WAITERS, SlotKind, SlotWord, SyncWord } from "../src/region/layout.ts";
import { exchangeRaw, rawClient } from "./helpers/raw.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("wake");

function request(name: keyof typeof messages, requestId: number, fields: Record<string, number | string>) {
  return encodeFrame(FrameKind.request, messages[name].op, requestId, messages[name].request, fields);
}

test("a wake with reply 0 is not answered; with reply 1 it is; a failing one always is", async () => {
  const hello = { magic: WIRE_MAGIC, version: PROTOCOL_VERSION, clientName: "raw", pid: 1, sessionToken: "" };
  const { frames } = await exchangeRaw(
    suite.socket,
    [
      request("hello", 1, hello),
      request("syncOpen", 2, { name: "w", kind: SlotKind.condvar, create: SyncCreate.openOrCreate }),
      request("wake", 3, { slot: 0, word: 1, count: 1, reply: 0 }),
      request("wake", 4, { slot: 0, word: 1, count: 1, reply: 1 }),
      request("wake", 5, { slot: 63, word: 1, count: 1, reply: 0 }),
    ],
    500,
  );
  expect(frames.map((frame) => frame.requestId)).toEqual([1, 2, 4, 5]);
  expect(decodeFields(messages.wake.reply, frames[2]!.body, "wake")).toEqual({ woken: 0 });
  expect(decodeError(frames[3]!.body).code).toBe("NotHeld");
});

test("a wake of count n answers exactly the n oldest parked waiters; the rest stay parked", async () => {
  const client = await rawClient(suite.socket);
  try {
    await client.hello("fifo");
    client.send("syncOpen", 2, { name: "fifo", kind: SlotKind.condvar, create: SyncCreate.openOrCreate });
    const { slot } = decodeFields(messages.syncOpen.reply, (await client.answer(2)).body, "syncOpen");
    // A fresh condvar's sequence word holds 0: each wait parks.
    for (const requestId of [3, 4, 5])
      client.send("wait", requestId, { slot, word: 1, expected: 0, timeoutMs: WAIT_FOREVER });
    client.send("wake", 6, { slot, word: 1, count: 2, reply: 1 });
    expect(decodeFields(messages.wake.reply, (await client.answer(6)).body, "wake")).toEqual({ woken: 2 });
    const outcome = (requestId: number) =>
      decodeFields(messages.wait.reply, client.frames.find((f) => f.requestId === requestId)!.body, "wait");
    expect([outcome(3), outcome(4)]).toEqual([
      { outcome: WaitOutcome.woken },
      { outcome: WaitOutcome.woken },
    ]);
    // Answered in order: anything for 5 would have come before the wake's own reply.
    expect(client.frames.some((frame) => frame.requestId === 5)).toBe(false);
    client.send("wake", 7, { slot, word: 1, count: 2, reply: 1 });
    expect(decodeFields(messages.wake.reply, (await client.answer(7)).body, "wake")).toEqual({ woken: 1 });
    expect(outcome(5)).toEqual({ outcome: WaitOutcome.woken });
  } finally {
    client.socket.end();
  }
});

test("a timed WAIT nobody wakes is answered 'timed out' by the arbiter, and is parked no longer", async () => {
  const client = await rawClient(suite.socket);
  try {
    await client.hello("timed");
    client.send("syncOpen", 2, { name: "timed", kind: SlotKind.condvar, create: SyncCreate.openOrCreate });
    const { slot } = decodeFields(messages.syncOpen.reply, (await client.answer(2)).body, "syncOpen");
    client.send("wait", 3, { slot, word: 1, expected: 0, timeoutMs: 100 });
    // Generous liveness bound: the client library gives up on its own a little after its timeout, but a
    // WAIT the arbiter never ends stays parked, counting against the client's parked waits for good.
    const reply = decodeFields(messages.wait.reply, (await client.answer(3, 20_000)).body, "wait");
    expect(reply).toEqual({ outcome: WaitOutcome.timedOut });
    client.send("wake", 4, { slot, word: 1, count: 1, reply: 1 });
    expect(decodeFields(messages.wake.reply, (await client.answer(4)).body, "wake")).toEqual({ woken: 0 });
  } finally {
    client.socket.end();
  }
});

/**
 * Runs `attempt` until the first WAIT it parked was not ended by the sweep (at most 3 times): the sweep's
 * recheck ends a WAIT whose word moved as "value changed", and once a second it may run between the word's
 * change and the WAKE that follows it. A WAKE that never comes loses every attempt to the sweep.
 */
async function unswept(attempt: () => Promise<number[]>): Promise<number[]> {
  let outcomes: number[] = [];
  for (let tries = 0; tries < 3; tries++) {
    outcomes = await attempt();
    if (outcomes[0] !== WaitOutcome.valueChanged) break;
  }
  return outcomes;
}

test("an unlock with waiters flagged sends the arbiter a WAKE: a WAIT parked there ends woken, not by the sweep", async () => {
  const holder = await connect({ socket: suite.socket, region: suite.region, futexParking: false });
  const client = await rawClient(suite.socket);
  try {
    const mutex = await holder.mutex("handed");
    await client.hello("parked");
    client.send("syncOpen", 2, { name: "handed", kind: SlotKind.mutex, create: SyncCreate.openExisting });
    const { slot } = decodeFields(messages.syncOpen.reply, (await client.answer(2)).body, "syncOpen");
    const words = holder.slotWords(slot);
    let requestId = 3;
    const outcomes = await unswept(async () => {
      await mutex.lock();
      // Announced as a waiter parked in the arbiter does it: the waiters bit, and the lock's queued count.
      Atomics.or(words, SlotWord.lock, LOCK_WAITERS);
      Atomics.add(words, SyncWord.lockQueued, 1);
      const [waited, synced] = [requestId++, requestId++];
      const expected = Atomics.load(words, SlotWord.lock);
      client.send("wait", waited, { slot, word: SlotWord.lock, expected, timeoutMs: WAIT_FOREVER });
      client.send("wake", synced, { slot, word: SlotWord.lock, count: 0, reply: 1 }); // answered once parked
      await client.answer(synced);
      expect(client.frames.some((frame) => frame.requestId === waited)).toBe(false);
      mutex.unlock();
      const reply = decodeFields(messages.wait.reply, (await client.answer(waited)).body, "wait");
      Atomics.sub(words, SyncWord.lockQueued, 1);
      return [reply.outcome];
    });
    expect(outcomes).toEqual([WaitOutcome.woken]);
    await mutex.close();
  } finally {
    client.socket.end();
    await holder.close();
  }
});

test("broadcast() sends a WAKE for every waiter parked in the arbiter, notify() for one, owed ones at release", async () => {
  const notifier = await connect({ socket: suite.socket, region: suite.region, futexParking: false });
  const client = await rawClient(suite.socket);
  try {
    const condvar = await notifier.condvar("broadcast");
    await client.hello("parked");
    client.send("syncOpen", 2, {
      name: "broadcast",
      kind: SlotKind.condvar,
      create: SyncCreate.openExisting,
    });
    const { slot } = decodeFields(messages.syncOpen.reply, (await client.answer(2)).body, "syncOpen");
    const words = notifier.slotWords(slot);
    let requestId = 3;
    /** Parks `count` WAITs on the sequence as waiters in the arbiter do (counted), calls `signal`, and
     * returns how each ended. */
    const parkThen = (count: number, signal: () => void) => async () => {
      const expected = Atomics.load(words, SlotWord.sequence);
      const ids = Array.from({ length: count }, () => requestId++);
      for (const id of ids)
        client.send("wait", id, { slot, word: SlotWord.sequence, expected, timeoutMs: WAIT_FOREVER });
      Atomics.add(words, SyncWord.sequenceQueued, count);
      const synced = requestId++;
      client.send("wake", synced, { slot, word: SlotWord.sequence, count: 0, reply: 1 });
      await client.answer(synced);
      signal();
      const outcomes = await Promise.all(
        ids.map(
          async (id) => decodeFields(messages.wait.reply, (await client.answer(id)).body, "wait").outcome,
        ),
      );
      Atomics.sub(words, SyncWord.sequenceQueued, count);
      return outcomes;
    };
    const { woken, valueChanged } = WaitOutcome;
    expect(await unswept(parkThen(3, () => condvar.broadcast()))).toEqual([woken, woken, woken]);
    // The one not woken is ended by the sweep, seeing the sequence moved on.
    expect(await unswept(parkThen(2, () => condvar.notify()))).toEqual([woken, valueChanged]);
    // Under the lock, notifies are owed and sent at release: two of them (from any handle) wake two.
    const twice = await unswept(
      parkThen(3, () => {
        expect(condvar.tryLock()).toBe("acquired");
        condvar.notify();
        condvar.notify();
        condvar.release();
      }),
    );
    expect(twice).toEqual([woken, woken, valueChanged]);
    // Paid once: a later release under which nobody notified owes nothing (the notify after it wakes one).
    const paid = await unswept(
      parkThen(2, () => {
        expect(condvar.tryLock()).toBe("acquired");
        condvar.release();
        condvar.notify();
      }),
    );
    expect(paid).toEqual([woken, valueChanged]);
    await condvar.close();
  } finally {
    client.socket.end();
    await notifier.close();
  }
});
