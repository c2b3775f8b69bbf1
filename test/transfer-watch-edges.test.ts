/**
 * The arbiter's view of transfers in progress (src/host/transfers.ts) at its edges, on fixed inputs (slot
 * words and ring record headers scripted, sampled at given times): a new transfer on a slot starts from
 * nothing, whatever the one before it sent; a list cut at its limit counts what it left out; a forged ring
 * depth reads nothing outside the ring; two samples at one instant make no infinite rate.
 */
import { expect, test } from "bun:test";
import type { RegionSlots } from "../src/host/slots.ts";
import type { ArbiterState } from "../src/host/state.ts";
import { TransferWatch } from "../src/host/transfers.ts";
import {
  ChannelState,
  ChannelWord,
  channelSlotName,
  RECORD_BYTES,
  RECORD_END,
  RecordField,
} from "../src/region/layout.ts";
import type { MappedRegion } from "../src/region/mapping.ts";

const DEPTH = 4;
const RING_BYTES = DEPTH * RECORD_BYTES;

/** Channels on `slotCount` slots, each with a ring of DEPTH records of its own (segment = slot). */
function scripted(slotCount = 1) {
  const region = new Uint8Array(slotCount * RING_BYTES);
  const words = new Map<number, Map<number, number>>();
  const channels = new Map<number, { kind: string; slot: number; name: string }>();
  const segments = new Map<number, { firstBlock: number; bytes: number }>();
  for (let slot = 0; slot < slotCount; slot++) {
    words.set(
      slot,
      new Map([
        [ChannelWord.state, ChannelState.streaming],
        [ChannelWord.transfer, 5],
        [ChannelWord.depth, DEPTH],
        [ChannelWord.ringSegment, slot],
        [ChannelWord.sender, 11],
        [ChannelWord.receiver, 12],
      ]),
    );
    channels.set(slot, { kind: "channel", slot, name: channelSlotName(`c${slot}`) });
    // One "block" per ring: blockOffset(geometry, firstBlock) = firstBlock * blockSize.
    segments.set(slot, { firstBlock: slot, bytes: RING_BYTES });
  }
  /** Called at each load: what it returns (if not undefined) is read instead of the word. */
  let hook: ((slot: number, word: number) => number | undefined) | undefined;
  const slots = {
    load: (slot: number, word: number) => hook?.(slot, word) ?? words.get(slot)?.get(word) ?? 0,
  } as unknown as RegionSlots;
  const state = {
    geometry: { dataOffset: 0, blockSize: RING_BYTES },
    channels,
    segments,
    // Every channel holds its ring (./transfer-count.test.ts has channels without).
    ringChannels: channels,
    // Each end's VM is looked up by its session (72e334e7): these ends have none.
    sessions: new Map(),
  } as unknown as ArbiterState;
  const mapped = {
    bytes: (offset: number, length: number) => {
      if (offset < 0 || offset + length > region.byteLength)
        throw new RangeError(`read past the region at ${offset}`);
      return region.subarray(offset, offset + length);
    },
  };
  const watch = new TransferWatch(state, slots, mapped as unknown as MappedRegion);
  const set = (slot: number, word: number, value: number) => words.get(slot)?.set(word, value);
  /** Publishes record `head` (1-based) of `slot`'s ring: `offset` bytes went before it, of `total`. */
  const publish = (slot: number, head: number, offset: number, total = 0, end = false) => {
    const at = slot * RING_BYTES + ((head - 1) % DEPTH) * RECORD_BYTES;
    const view = new DataView(region.buffer, at, RECORD_BYTES);
    view.setUint32(RecordField.flags, end ? RECORD_END : 0, true);
    view.setBigUint64(RecordField.totalBytes, BigInt(total), true);
    view.setBigUint64(RecordField.streamOffset, BigInt(offset), true);
    set(slot, ChannelWord.head, head);
  };
  const setHook = (next: typeof hook) => {
    hook = next;
  };
  return { watch, publish, set, setHook };
}

test("the next transfer on a channel starts from nothing: not the bytes, nor the rate, of the one before", () => {
  const { watch, publish, set } = scripted();
  publish(0, 1, 0);
  watch.sample(1000);
  publish(0, 3, 1 << 20);
  watch.sample(2000); // transfer 5: 1 MiB, 1 MiB/s
  // Transfer 6 announced its ring, no record yet.
  set(0, ChannelWord.transfer, 6);
  set(0, ChannelWord.head, 0);
  expect(watch.report(10).transfers[0]).toMatchObject({ bytes: 0, bytesPerSecond: 0 });
  watch.sample(3000);
  expect(watch.report(10).transfers[0]).toMatchObject({ bytes: 0, bytesPerSecond: 0 });
});

// A channel closed and made again on the same slot numbers its transfers from 1 again: a sample of the
// old channel's, kept past its end, gave the new one's `ivsh status` the old one's bytes.
test("a transfer that ended leaves no sample behind for one of the same number on that slot later", () => {
  const { watch, publish, set } = scripted();
  publish(0, 2, 1 << 20);
  watch.sample(1000);
  set(0, ChannelWord.state, ChannelState.delivered);
  watch.sample(2000);
  set(0, ChannelWord.state, ChannelState.streaming);
  set(0, ChannelWord.head, 0);
  watch.sample(3000);
  expect(watch.report(10).transfers[0]).toMatchObject({ bytes: 0, bytesPerSecond: 0 });
});

test("the end record's bytes are its total; a record saying fewer bytes than already seen does not move back", () => {
  const { watch, publish } = scripted();
  publish(0, 2, 8192);
  watch.sample(1000);
  publish(0, 3, 4096); // an older offset than the one seen: progress stays
  watch.sample(2000);
  expect(watch.report(10).transfers[0]?.bytes).toBe(8192);
  publish(0, 4, 0, 10_000, true);
  watch.sample(3000);
  expect(watch.report(10).transfers[0]?.bytes).toBe(10_000);
});

test("two samples at one instant give no rate, not an infinite one", () => {
  const { watch, publish } = scripted();
  publish(0, 1, 0);
  watch.sample(1000);
  publish(0, 2, 4096);
  watch.sample(1000);
  expect(watch.report(10).transfers[0]?.bytesPerSecond).toBe(0);
});

test("a list cut at its limit holds that many and counts the ones left out", () => {
  const { watch, publish } = scripted(3);
  for (const slot of [0, 1, 2]) publish(slot, 1, 0);
  watch.sample(1000);
  const { transfers, total } = watch.report(2);
  expect(transfers.map((transfer) => transfer.slot)).toEqual([0, 1]);
  expect(total).toBe(3);
});

// The depth word is the sender's: one larger than its ring made the arbiter read headers past the ring,
// another channel's data or past the region's end.
test("a depth word larger than the ring holds: no header is read outside the ring", () => {
  const { watch, publish, set } = scripted(2);
  publish(0, 2, 4096);
  watch.sample(1000);
  set(0, ChannelWord.depth, DEPTH * 100);
  publish(1, 1, 777_777); // the next ring's first header, where a read past ring 0 lands
  set(0, ChannelWord.head, DEPTH + 1); // record DEPTH + 1 of a ring of DEPTH * 100: just past ring 0
  watch.sample(2000);
  expect(watch.report(10).transfers[0]?.bytes).toBe(4096);
});

test("a header read while the sender started its next transfer is not used", () => {
  const { watch, publish, setHook } = scripted();
  publish(0, 2, 4096);
  watch.sample(1000);
  publish(0, 3, 999_999);
  let transferReads = 0;
  // The transfer word read again after the header: it moved on to transfer 6 in between.
  setHook((_slot, word) => (word === ChannelWord.transfer && transferReads++ % 2 === 1 ? 6 : undefined));
  watch.sample(2000);
  expect(watch.report(10).transfers[0]?.bytes).toBe(4096);
});
