/**
 * The arbiter's view of a transfer in progress (src/host/transfers.ts), on fixed inputs: slot words and a
 * ring's newest record header scripted, sampled at given times. The bytes sent come from that header, the
 * rate from two samples of one transfer, in bytes per second.
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

const SLOT = 3;
const RING_SEGMENT = 7;
const DEPTH = 4;

/** A channel streaming transfer 5 through a ring at the region's data offset 0. */
function scripted() {
  const bytes = new Uint8Array(DEPTH * RECORD_BYTES);
  const words = new Map<number, number>([
    [ChannelWord.state, ChannelState.streaming],
    [ChannelWord.transfer, 5],
    [ChannelWord.depth, DEPTH],
    [ChannelWord.ringSegment, RING_SEGMENT],
    [ChannelWord.sender, 11],
    [ChannelWord.receiver, 12],
  ]);
  /** Successive reads of `head` after the first in a read() (the re-read that tells a torn header). */
  let headAfter: number | undefined;
  let headReads = 0;
  const slots = {
    load(slot: number, word: number): number {
      expect(slot).toBe(SLOT);
      if (word === ChannelWord.head && headAfter !== undefined && headReads++ % 2 === 1) return headAfter;
      return words.get(word) ?? 0;
    },
  } as unknown as RegionSlots;
  const channel = { kind: "channel", slot: SLOT, name: channelSlotName("fixed") };
  const state = {
    geometry: { dataOffset: 0, blockSize: 4096 },
    syncObjects: new Map([[1, channel]]),
    channels: new Map([[SLOT, channel]]),
    // Its ring is live (./transfer-count.test.ts has channels without).
    ringChannels: new Map([[SLOT, channel]]),
    segments: new Map([[RING_SEGMENT, { firstBlock: 0, bytes: bytes.byteLength }]]),
    // Each end's VM is looked up by its session (72e334e7): these ends have none.
    sessions: new Map(),
  } as unknown as ArbiterState;
  const region = { bytes: (offset: number, length: number) => bytes.subarray(offset, offset + length) };
  const watch = new TransferWatch(state, slots, region as unknown as MappedRegion);
  /** Publishes record `head` (1-based) saying `offset` bytes went before it, of `total` (0: unknown). */
  const publish = (head: number, offset: number, total = 0, end = false) => {
    const view = new DataView(bytes.buffer, ((head - 1) % DEPTH) * RECORD_BYTES, RECORD_BYTES);
    view.setUint32(RecordField.flags, end ? RECORD_END : 0, true);
    view.setBigUint64(RecordField.totalBytes, BigInt(total), true);
    view.setBigUint64(RecordField.streamOffset, BigInt(offset), true);
    words.set(ChannelWord.head, head);
  };
  const tornBy = (moved: number) => {
    headAfter = (words.get(ChannelWord.head) ?? 0) + moved;
    headReads = 0;
  };
  return { watch, publish, tornBy };
}

test("bytes come from the newest record's header, the rate from two samples, in bytes per second", () => {
  const { watch, publish } = scripted();
  publish(1, 0);
  watch.sample(1000);
  publish(6, 8192); // the ring wrapped: record 6 sits where record 2 did
  watch.sample(3000);
  const [transfer] = watch.report(10).transfers;
  expect(transfer).toEqual({
    channel: "fixed",
    slot: SLOT,
    sender: 11,
    receiver: 12,
    state: "streaming",
    bytes: 8192,
    totalBytes: 0,
    bytesPerSecond: 4096,
  });
});

test("progress never passes the size the sender announced", () => {
  const { watch, publish } = scripted();
  publish(2, 70_000, 65_536);
  watch.sample(1000);
  expect(watch.report(10).transfers[0]?.bytes).toBe(65_536);
});

test("a header read while the sender moved on by most of the ring is not used: the last good count stays", () => {
  const { watch, publish, tornBy } = scripted();
  publish(2, 4096);
  watch.sample(1000);
  publish(3, 999_999); // being rewritten as we read it
  tornBy(DEPTH - 1);
  watch.sample(2000);
  expect(watch.report(10).transfers[0]?.bytes).toBe(4096);
});
