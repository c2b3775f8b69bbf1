/**
 * Transfers in progress, for `ivsh status`: each channel whose transfer is streaming (or being kept by its
 * receiver), who sends and who receives, how many bytes have gone and at what rate. The arbiter plays no
 * part in a transfer: it reads the channel's slot words and the newest record header of its ring, which
 * the sender writes (docs/layout.md, "Record header": `streamOffset`, `totalBytes`), and samples them at
 * each sweep to tell a rate. All of it is progress only: a sender that scribbles here misleads a display,
 * nothing else.
 *
 * A status looks only at the channels a transfer can be in progress in: those holding a ring (a sender
 * allocates it before it publishes the transfer, and frees it after the verdict) and those the last sweep
 * found in progress (a sender killed with its ring unjoined left `streaming` behind). Walking every channel
 * cost a status ~15 ns a channel, 150 µs at 10 000 channels: a thousand senders waiting for room each ask
 * for one a second (../transfer/room-wait.ts). The sweep alone still walks them all, once a period. Those
 * candidates are walked as kept (no lookup by name, no sort for a count): where rings fill the region they
 * are most channels, and a status then costs what a walk of every channel does, not 20 times that.
 */
import type { TransferStatus } from "../protocol/status-report.ts";
import {
  blockOffset,
  ChannelState,
  ChannelWord,
  channelOfSlotName,
  LOCK_OWNER_MASK,
  RECORD_BYTES,
  RECORD_END,
  RecordField,
} from "../region/layout.ts";
import type { MappedRegion } from "../region/mapping.ts";
import type { RegionSlots } from "./slots.ts";
import type { ArbiterState } from "./state.ts";

const IN_PROGRESS = new Set<number>([ChannelState.streaming, ChannelState.keeping]);
const STATE_NAMES = new Map<number, string>(
  Object.entries(ChannelState).map(([name, value]) => [value, name]),
);

interface Sample {
  transfer: number;
  bytes: number;
  atMs: number;
  bytesPerSecond: number;
}

export class TransferWatch {
  private readonly samples = new Map<number, Sample>();

  constructor(
    private readonly state: ArbiterState,
    private readonly slots: RegionSlots,
    private readonly region: MappedRegion,
  ) {}

  /** At each sweep: the rate of every transfer in progress since the previous sweep. */
  sample(nowMs = performance.now()): void {
    const seen = new Set<number>();
    for (const object of this.state.channels.values()) {
      const progress = this.read(object.slot);
      if (!progress) continue;
      seen.add(object.slot);
      const previous = this.samples.get(object.slot);
      const sameTransfer = previous?.transfer === progress.transfer && nowMs > previous.atMs;
      const bytesPerSecond = sameTransfer
        ? (Math.max(0, progress.bytes - previous.bytes) * 1000) / (nowMs - previous.atMs)
        : 0;
      this.samples.set(object.slot, {
        transfer: progress.transfer,
        bytes: progress.bytes,
        atMs: nowMs,
        bytesPerSecond,
      });
    }
    for (const slot of this.samples.keys()) if (!seen.has(slot)) this.samples.delete(slot);
  }

  /**
   * The transfers in progress now, at most `limit` of them with the rate of the last sweep, and how many
   * there are: a list cut at the limit must say what it left out (the sweep walks the same objects).
   */
  report(limit: number): { transfers: TransferStatus[]; total: number } {
    const transfers: TransferStatus[] = [];
    // A summary (limit 0, as each sender waiting for room asks once a second) only counts: no list to sort.
    const found: number[] | undefined = limit === 0 ? undefined : [];
    const inProgress = this.inProgress(found);
    if (!found) return { transfers, total: inProgress };
    let total = 0;
    // Listed in slot order: only those in progress are sorted.
    for (const slot of found.sort((a, b) => a - b)) {
      if (transfers.length >= limit) {
        total++;
        continue;
      }
      const [object, progress] = [this.state.channels.get(slot), this.read(slot)];
      if (!object || !progress) continue;
      total++;
      const sample = this.samples.get(slot);
      const sender = this.slots.load(slot, ChannelWord.sender) & LOCK_OWNER_MASK;
      const receiver = this.slots.load(slot, ChannelWord.receiver) & LOCK_OWNER_MASK;
      const [senderVm, receiverVm] = [this.vmOf(sender), this.vmOf(receiver)];
      transfers.push({
        channel: channelOfSlotName(object.name),
        slot,
        sender,
        receiver,
        ...(senderVm === undefined ? {} : { senderVm }),
        ...(receiverVm === undefined ? {} : { receiverVm }),
        state: STATE_NAMES.get(progress.state) ?? String(progress.state),
        bytes: progress.bytes,
        totalBytes: progress.totalBytes,
        bytesPerSecond: sample?.transfer === progress.transfer ? Math.round(sample.bytesPerSecond) : 0,
      });
    }
    return { transfers, total };
  }

  /**
   * How many channels' state words say a transfer is in progress, among those it can be in (see above), each
   * looked at once, their slots put in `found` if given; where those are most channels, every channel is
   * looked at instead (as cheap, and once each).
   */
  private inProgress(found?: number[]): number {
    const { channels, ringChannels } = this.state;
    let count = 0;
    const look = (slot: number) => {
      if (!IN_PROGRESS.has(this.slots.load(slot, ChannelWord.state))) return;
      count++;
      found?.push(slot);
    };
    if (ringChannels.size + this.samples.size >= channels.size) {
      for (const { slot } of channels.values()) look(slot);
      return count;
    }
    for (const { slot } of ringChannels.values()) look(slot);
    for (const slot of this.samples.keys()) if (!ringChannels.has(slot) && channels.has(slot)) look(slot);
    return count;
  }

  /** The VM of the session `clientId` (a role word's owner; 0: none). */
  private vmOf(clientId: number): string | undefined {
    return clientId === 0 ? undefined : this.state.sessions.get(clientId)?.vm;
  }

  /**
   * A channel's transfer, if one is in progress: its number, state, bytes sent and expected size. The
   * sender may be rewriting the ring under us (a fast one wraps a ring in well under a millisecond): a
   * header read while `head` moved on by most of the ring may be torn, and is not used.
   */
  private read(slot: number) {
    const state = this.slots.load(slot, ChannelWord.state);
    if (!IN_PROGRESS.has(state)) return undefined;
    const transfer = this.slots.load(slot, ChannelWord.transfer) >>> 0;
    const head = this.slots.load(slot, ChannelWord.head) >>> 0;
    const depth = this.slots.load(slot, ChannelWord.depth) >>> 0;
    const ring = this.state.segments.get(this.slots.load(slot, ChannelWord.ringSegment) >>> 0);
    const previous = this.samples.get(slot);
    const known = previous?.transfer === transfer ? previous.bytes : 0;
    const progress = { transfer, state, bytes: known, totalBytes: 0 };
    if (!ring || head === 0 || depth < 2) return progress;
    const ringStart = blockOffset(this.state.geometry, ring.firstBlock);
    const headerOffset = ringStart + ((head - 1) % depth) * RECORD_BYTES;
    if (headerOffset + RECORD_BYTES > ringStart + ring.bytes) return progress;
    const header = this.region.bytes(headerOffset, RECORD_BYTES);
    const view = new DataView(header.buffer, header.byteOffset, RECORD_BYTES);
    const totalBytes = Number(view.getBigUint64(RecordField.totalBytes, true));
    // The end record carries what was sent in totalBytes, and no stream offset.
    const ended = (view.getUint32(RecordField.flags, true) & RECORD_END) !== 0;
    const bytes = ended ? totalBytes : Number(view.getBigUint64(RecordField.streamOffset, true));
    const moved = ((this.slots.load(slot, ChannelWord.head) >>> 0) - head) >>> 0;
    if (moved >= depth - 1 || this.slots.load(slot, ChannelWord.transfer) >>> 0 !== transfer) return progress;
    // Progress only moves forward, and never past the size the sender announced.
    const capped = totalBytes > 0 ? Math.min(bytes, totalBytes) : bytes;
    return { transfer, state, bytes: Math.max(known, capped), totalBytes };
  }
}
