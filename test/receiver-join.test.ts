/**
 * The sender's wait for its receiver to join, at the interleaving the soak found (seed 2006 scenario 105,
 * seed 2013 scenario 13; 1 in 60 empty-file transfers started receiver first): the sender reads the join
 * word before the receiver stores it, and the receiver has joined and consumed the end record before the
 * sender looks at the ring. Each word is scripted here read by read, so the interleaving is exact. Also
 * which receiver a sender watches (joinedReceiver), and a wait already under way ending at an overwrite.
 */
import { expect, test } from "bun:test";
import { ChannelState } from "../src/region/layout.ts";
import { awaitReceiverJoined, joinedReceiver, joinOverlooked } from "../src/transfer/receiver-join.ts";
import type { ChannelSlot, ChannelWordName } from "../src/transfer/slot.ts";
import { expectFailure } from "./helpers/errors.ts";

/**
 * A slot whose words answer successive reads from their scripts (the last value repeats); a
 * compare-and-swap reads the next value too, and what it stores, and the wakes, are recorded.
 */
function scriptedSlot(scripts: Partial<Record<ChannelWordName, number[]>>) {
  const reads = new Map<string, number>();
  const stored: [ChannelWordName, number][] = [];
  const woken: ChannelWordName[] = [];
  const load = (word: ChannelWordName): number => {
    const script = scripts[word] ?? [0];
    const read = reads.get(word) ?? 0;
    reads.set(word, read + 1);
    return script[Math.min(read, script.length - 1)]!;
  };
  return {
    load,
    compareExchange(word: ChannelWordName, expected: number, value: number): number {
      const seen = load(word);
      if (seen === expected) stored.push([word, value]);
      return seen;
    },
    wake: (word: ChannelWordName) => void woken.push(word),
    stored,
    woken,
  };
}

test("a receiver that joined and consumed since the sender read the join word: joined, not an overwrite", () => {
  const slot = scriptedSlot({ state: [ChannelState.streaming], tail: [1], receiverJoined: [1] });
  expect(joinOverlooked(slot, 1, "late-look")).toBe(true);
});

test("records consumed while the join word names another transfer: abandoned, and RegionCorrupted naming the word", () => {
  const slot = scriptedSlot({ state: [ChannelState.streaming], tail: [1], receiverJoined: [1001] });
  expectFailure(
    () => joinOverlooked(slot, 1, "overwritten"),
    "RegionCorrupted",
    /the word naming the transfer it joined holds 1001, not 1/,
  );
  // The receiver is told, so that it fails too instead of keeping what its sender reports as failed.
  expect(slot.stored).toEqual([["state", ChannelState.abandoned]]);
  expect(slot.woken).toEqual(["head"]);
});

test("the join word overwritten, but the receiver decided first: its verdict stands, for the caller to read", () => {
  // Keeping already (it got the end record): the sender must wait for that verdict, not fail beside it.
  const keeping = scriptedSlot({ state: [ChannelState.keeping], tail: [9], receiverJoined: [1001] });
  expect(joinOverlooked(keeping, 1, "decided")).toBe(true);
  expect(keeping.stored).toEqual([]);
  // Deciding between the sender's first look and its abandon (transfer-faults, .ci/run of 09d53b1: the
  // sender failed "overwritten" while its receiver kept the file).
  const racing = scriptedSlot({
    state: [ChannelState.streaming, ChannelState.delivered],
    tail: [9],
    receiverJoined: [1001],
  });
  expect(joinOverlooked(racing, 1, "decided")).toBe(true);
  expect(racing.stored).toEqual([]);
});

test("nothing consumed yet: still waiting; a verdict already there: the wait ends", () => {
  expect(joinOverlooked(scriptedSlot({ state: [ChannelState.streaming], tail: [0] }), 1, "w")).toBe(false);
  expect(joinOverlooked(scriptedSlot({ state: [ChannelState.delivered] }), 1, "w")).toBe(true);
});

test("a join word naming another transfer (the one before) is no join, whatever receiverId holds", () => {
  // That transfer's receiver would be watched as ours: its going called ours gone, its staying a join.
  expect(joinedReceiver(scriptedSlot({ receiverJoined: [4], receiverId: [77] }), 5, "before")).toBe(0);
  expect(joinedReceiver(scriptedSlot({ receiverJoined: [5], receiverId: [77] }), 5, "joined")).toBe(77);
});

test("records consumed while the sender is already waiting, the join word overwritten: the wait ends RegionCorrupted", async () => {
  // The word never changes (it holds 5, not our 6) and nothing wakes us: only the wait's own look at the
  // ring tells that a receiver joined. Not looking, the wait parks slice after slice for ever.
  const script = scriptedSlot({ state: [ChannelState.streaming], tail: [0, 1], receiverJoined: [5] });
  let parks = 0;
  const slot = {
    ...script,
    channel: "overwritten-while-waiting",
    slot: 0,
    words: Int32Array.of(5),
    index: () => 0,
    store: () => undefined,
    throwIfLost: () => undefined,
    client: {
      isClosed: false,
      keepAlive: () => undefined,
      waitWord: async () => {
        if (++parks > 3) throw new Error("parked again and again: the join was never noticed");
      },
    },
  } as unknown as ChannelSlot;
  await expect(
    awaitReceiverJoined(slot, 6, "overwritten-while-waiting", undefined, () => false),
  ).rejects.toMatchObject({ code: "RegionCorrupted" });
  expect(script.stored).toEqual([["state", ChannelState.abandoned]]);
});
