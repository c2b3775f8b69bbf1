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

test("an unlock with waiters flagged sends the arbiter a WAKE: a WAIT parked there ends woken, not by the sweep", async () => {
  const holder = await connect({ socket: suite.socket, region: suite.region, futexParking: false });
  const client = await rawClient(suite.socket);
  try {
    const mutex = await holder.mutex("handed");
    await mutex.lock();
    await client.hello("parked");
    client.send("syncOpen", 2, { name: "handed", kind: SlotKind.mutex, create: SyncCreate.openExisting });
    const { slot } = decodeFields(messages.syncOpen.reply, (await client.answer(2)).body, "syncOpen");
    // Announced as a waiter parked in the arbiter does it: the waiters bit, and the lock's queued count.
    const words = holder.slotWords(slot);
    Atomics.or(words, SlotWord.lock, LOCK_WAITERS);
    Atomics.add(words, SyncWord.lockQueued, 1);
    const expected = Atomics.load(words, SlotWord.lock);
    client.send("wait", 3, { slot, word: SlotWord.lock, expected, timeoutMs: WAIT_FOREVER });
    client.send("wake", 4, { slot, word: SlotWord.lock, count: 0, reply: 1 }); // answered once 3 is parked
    await client.answer(4);
    expect(client.frames.some((frame) => frame.requestId === 3)).toBe(false);
    mutex.unlock();
    // The sweep's recheck would end it too, as "value changed": a lost WAKE costs a sweep, not the wait.
    const reply = decodeFields(messages.wait.reply, (await client.answer(3)).body, "wait");
    expect(reply).toEqual({ outcome: WaitOutcome.woken });
    Atomics.sub(words, SyncWord.lockQueued, 1);
    await mutex.close();
  } finally {
    client.socket.end();
    await holder.close();
  }
});
