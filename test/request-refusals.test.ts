/**
 * Requests the arbiter's handlers refuse (src/host/handlers.ts) when a client other than the library sends
 * them, each answered InvalidArgument on a connection that stays: a syncOpen whose create is none of 0, 1,
 * 2 or whose kind is "free", a WAKE of count 0, a WAIT or WAKE of a word past the slot's last; and a
 * syncClose that ends the closer's own WAIT parked on the slot (left parked, it would take a wake-up meant
 * for a waiter still there).
 */
import { expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { decodeError, decodeFields } from "../src/protocol/codec.ts";
import { FrameKind, messages, SyncCreate, WAIT_FOREVER, WaitOutcome } from "../src/protocol/messages.ts";
import { SLOT_WORDS, SlotKind, SlotWord } from "../src/region/layout.ts";
import { eventually } from "./helpers/processes.ts";
import { type RawClient, rawClient } from "./helpers/raw.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("request-refusals");

/** The error frame answering `requestId`, decoded. */
async function refusalOf(raw: RawClient, requestId: number) {
  const frame = await raw.answer(requestId);
  expect(frame.kind).toBe(FrameKind.error);
  return decodeError(frame.body);
}

test("a syncOpen with create 3 or of kind free is refused, and the connection serves on", async () => {
  const raw = await rawClient(suite.socket);
  try {
    await raw.hello("refusals");
    raw.send("syncOpen", 2, { name: "create-3", kind: SlotKind.mutex, create: SyncCreate.createNew + 1 });
    expect(await refusalOf(raw, 2)).toMatchObject({
      code: "InvalidArgument",
      message: expect.stringMatching(/create 3 is not 0 \(open\), 1 \(open or create\) or 2 \(create new\)/),
    });
    raw.send("syncOpen", 3, { name: "kind-free", kind: SlotKind.free, create: SyncCreate.openOrCreate });
    expect(await refusalOf(raw, 3)).toMatchObject({
      code: "InvalidArgument",
      message: expect.stringMatching(/kind 0 is unknown/),
    });
    raw.send("syncOpen", 4, { name: "made", kind: SlotKind.mutex, create: SyncCreate.createNew });
    expect((await raw.answer(4)).kind).toBe(FrameKind.reply);
  } finally {
    raw.socket.end();
  }
}, 30_000);

test("a WAKE of count 0, and a WAIT or WAKE of word SLOT_WORDS, are refused; the last word is taken", async () => {
  const raw = await rawClient(suite.socket);
  try {
    await raw.hello("words");
    raw.send("syncOpen", 2, { name: "words", kind: SlotKind.mutex, create: SyncCreate.openOrCreate });
    const { slot } = decodeFields(messages.syncOpen.reply, (await raw.answer(2)).body, "syncOpen");
    raw.send("wake", 3, { slot, word: SlotWord.lock, count: 0, reply: 1 });
    expect(await refusalOf(raw, 3)).toMatchObject({
      code: "InvalidArgument",
      message: expect.stringMatching(/the count is 0/),
    });
    const pastLast = new RegExp(
      `use word ${SLOT_WORDS} of slot ${slot} since a slot has ${SLOT_WORDS} words`,
    );
    raw.send("wait", 4, { slot, word: SLOT_WORDS, expected: 0, timeoutMs: 0 });
    expect(await refusalOf(raw, 4)).toMatchObject({
      code: "InvalidArgument",
      message: expect.stringMatching(pastLast),
    });
    raw.send("wake", 5, { slot, word: SLOT_WORDS, count: 1, reply: 1 });
    expect(await refusalOf(raw, 5)).toMatchObject({
      code: "InvalidArgument",
      message: expect.stringMatching(pastLast),
    });
    raw.send("wake", 6, { slot, word: SLOT_WORDS - 1, count: 1, reply: 1 });
    expect(decodeFields(messages.wake.reply, (await raw.answer(6)).body, "wake")).toEqual({ woken: 0 });
  } finally {
    raw.socket.end();
  }
}, 30_000);

test("a syncClose answers the closer's own WAIT parked on the slot at once", async () => {
  const holder = await connect({ socket: suite.socket, region: suite.region, name: "holder" });
  const raw = await rawClient(suite.socket);
  try {
    const mutex = await holder.mutex("closed-while-parked");
    await mutex.lock(); // held throughout: nothing but the close answers the WAIT
    await raw.hello("closer");
    raw.send("syncOpen", 2, {
      name: "closed-while-parked",
      kind: SlotKind.mutex,
      create: SyncCreate.openExisting,
    });
    const { slot } = decodeFields(messages.syncOpen.reply, (await raw.answer(2)).body, "syncOpen");
    const expected = Atomics.load(holder.slotWords(slot), SlotWord.lock);
    raw.send("wait", 3, { slot, word: SlotWord.lock, expected, timeoutMs: WAIT_FOREVER });
    const waiters = async () => (await holder.status()).sync.find((sync) => sync.slot === slot)?.waiters;
    await eventually(async () => (await waiters()) === 1, 20_000, "the WAIT parked");
    raw.send("syncClose", 4, { slot });
    const answered = decodeFields(messages.wait.reply, (await raw.answer(3)).body, "wait");
    expect(answered.outcome).toBe(WaitOutcome.woken);
    expect((await raw.answer(4)).kind).toBe(FrameKind.reply);
    mutex.unlock();
    await mutex.close();
  } finally {
    raw.socket.end();
    await holder.close();
  }
}, 30_000);
