/**
 * What a channel's transfer left in the arbiter and in the region's slot words, read (or, as a rogue guest
 * could, written) by a test: for the tests of one shared arbiter, its waits bounded by `leaseMs`.
 */
import { fetchStatus } from "../../src/guest/inspect.ts";
import {
  blockOffset,
  ChannelWord,
  computeGeometry,
  LOCK_OWNER_MASK,
  PAGE_SIZE,
  RECORD_BYTES,
  RECORD_END,
  RecordField,
  slotWordIndex,
} from "../../src/region/layout.ts";
import { mapRegionFile } from "../../src/region/mapping.ts";
import { eventually, livenessBoundMs } from "./processes.ts";
import type { SharedArbiter } from "./shared-arbiter.ts";

export function channelProbes(suite: SharedArbiter, leaseMs: number) {
  /** Nothing of any transfer is left: no blocks, segments, slots or clients. */
  async function expectNothingHeld(): Promise<void> {
    let held = "";
    const released = async () => {
      const { report, self } = await fetchStatus({ unix: suite.socket });
      const others = report.clients.filter((client) => client.clientId !== self);
      held = JSON.stringify({ blocks: report.blocks.used, sync: report.sync, clients: others });
      return report.blocks.used === 0 && report.sync.length === 0 && others.length === 0;
    };
    await eventually(released, livenessBoundMs(leaseMs), "releasing every block, slot and client").catch(
      (error: Error) => {
        throw new Error(`${error.message}; still held: ${held}`);
      },
    );
  }

  /**
   * Whether the channel's last published record is the end record, read from the region as any process
   * mapping it would: the slot's head and depth, then the flags of record head - 1 in the ring segment.
   */
  async function endPublished(channel: string): Promise<boolean> {
    const { report } = await fetchStatus({ unix: suite.socket });
    const slot = report.sync.find((object) => object.name === `channel:${channel}`);
    const ring = report.segments.find((segment) => segment.name.startsWith(`channel:${channel}:`));
    if (!slot || !ring) return false;
    const { size, blockSize, slotCount } = report.region;
    const geometry = computeGeometry(size, blockSize, slotCount);
    const region = mapRegionFile(suite.region);
    try {
      const words = new Int32Array(region.bytes(0, geometry.dataOffset).buffer);
      const word = (name: keyof typeof ChannelWord) =>
        Atomics.load(words, slotWordIndex(geometry, slot.slot, ChannelWord[name]));
      const last = (word("head") - 1) % word("depth");
      const headers = region.bytes(blockOffset(geometry, ring.firstBlock), PAGE_SIZE);
      return word("head") > 0 && headers[last * RECORD_BYTES + RecordField.flags] === RECORD_END;
    } finally {
      region.close();
    }
  }

  /** Overwrites a word of the channel's slot, as a rogue guest with the region mapped could. */
  async function writeChannelWord(
    channel: string,
    name: keyof typeof ChannelWord,
    change: (value: number) => number,
  ): Promise<number> {
    const { report } = await fetchStatus({ unix: suite.socket });
    const slot = report.sync.find((object) => object.name === `channel:${channel}`);
    if (!slot) return 0; // no such channel (any more): every word reads as the zero of a fresh slot
    const { size, blockSize, slotCount } = report.region;
    const geometry = computeGeometry(size, blockSize, slotCount);
    const region = mapRegionFile(suite.region);
    const words = new Int32Array(region.bytes(0, geometry.dataOffset).buffer);
    const index = slotWordIndex(geometry, slot.slot, ChannelWord[name]);
    const value = Atomics.load(words, index);
    if (change(value) !== value) Atomics.store(words, index, change(value));
    region.close();
    return value;
  }

  /** The client id holding a channel role's lock word (0: nobody; the arbiter has released a dead holder). */
  async function roleHolder(channel: string, role: "sender" | "receiver"): Promise<number> {
    return (await writeChannelWord(channel, role, (value) => value)) & LOCK_OWNER_MASK;
  }

  /** Waits until the receiver has joined the sender's transfer (both hold its ring). */
  async function transferJoined(channel: string): Promise<void> {
    const joined = async () => {
      const { report } = await fetchStatus({ unix: suite.socket });
      const ring = report.segments.find((segment) => segment.name.startsWith(`channel:${channel}:`));
      return ring?.holders.length === 2;
    };
    await eventually(joined, livenessBoundMs(leaseMs), `the receiver joining channel '${channel}'`);
  }
  return { expectNothingHeld, endPublished, writeChannelWord, roleHolder, transferJoined };
}
