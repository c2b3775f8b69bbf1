/**
 * The receiving end of a channel. It holds the receiver lock (a second receiver gets "channel busy"),
 * joins a transfer from its start (waiting for a sender if there is none yet), and hands each chunk to
 * the caller in place: `receive((chunk, address) => ...)`, e.g. write(2) straight from `address`.
 */
import { failure } from "../errors.ts";
import type { Client } from "../guest/client.ts";
import { ChannelState, RECORD_END, RecordField } from "../region/layout.ts";
import { formatDigest, StreamDigest } from "./digest.ts";
import { type ChannelSlot, claimRole, ignoreLost, Ring, releaseRole, ringSegmentName } from "./ring.ts";
import type { TransferSummary } from "./sender.ts";
import { Peer, waitForChange, wakeIfParked } from "./wait.ts";

const ALL = 0x7fffffff;

/** Called with each received chunk (awaited if it returns a promise). */
export type ChunkConsumer = (chunk: Uint8Array, address: number) => unknown;

export class ChannelReceiver {
  readonly digest = new StreamDigest();
  /** Data records received. */
  records = 0;
  private tail = 0;
  private ended = false;

  private constructor(
    readonly name: string,
    readonly slot: ChannelSlot,
    readonly ring: Ring,
    readonly transfer: number,
    readonly sender: Peer,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** Attaches as the receiver and waits until a transfer starts (`onWaiting` is called if it must wait). */
  static async open(
    client: Client,
    name: string,
    { onWaiting, signal }: { onWaiting?: () => void; signal?: AbortSignal } = {},
  ): Promise<ChannelReceiver> {
    const slot = await claimRole(client, name, "receiver");
    try {
      const transfer = await awaitTransfer(slot, onWaiting, signal);
      slot.store("receiverJoined", transfer);
      const segment = await client.open(ringSegmentName(name, transfer), "read");
      const ring = new Ring(segment, slot.load("depth"), slot.load("chunkBytes"));
      ring.populate(false);
      // The sender of a streaming transfer holds its lock; if nobody does, it died or left already.
      const { owner, died } = slot.holder("sender");
      if (owner === 0)
        throw failure(
          "PeerGone",
          `receive on channel '${name}'`,
          `the sender ${died ? "died" : "went away"} before we joined`,
        );
      const sender = new Peer(slot, "sender", name, owner);
      return new ChannelReceiver(name, slot, ring, transfer, sender, signal);
    } catch (error) {
      await releaseRole(slot, "receiver");
      throw error;
    }
  }

  /**
   * Waits for the next record and hands its chunk to `consume`. Returns the chunk's length, or undefined
   * at the end of the stream (after checking the digest and telling the sender).
   */
  async receive(consume: ChunkConsumer): Promise<number | undefined> {
    if (this.ended) return undefined;
    await this.waitForRecord();
    const length = this.ring.readLength(this.tail);
    if (this.ring.readFlags(this.tail) & RECORD_END) {
      this.finish();
      return undefined;
    }
    if (length === 0 || length > this.ring.chunkBytes)
      throw failure(
        "BadFrame",
        `receive on channel '${this.name}'`,
        `record ${this.tail} claims ${length} bytes (corrupted ring?)`,
      );
    const whole = this.ring.chunk(this.tail);
    const chunk = length === whole.byteLength ? whole : whole.subarray(0, length);
    await consume(chunk, this.ring.chunkAddress(this.tail));
    this.digest.update(chunk);
    this.records++;
    this.advance();
    return length;
  }

  /** What was received, once the end record arrived and matched. */
  summary(): TransferSummary {
    return { bytes: this.digest.bytes, records: this.records, digest: this.digest.value };
  }

  async close(): Promise<void> {
    await ignoreLost(this.ring.segment.free());
    await releaseRole(this.slot, "receiver");
  }

  private async waitForRecord(): Promise<void> {
    for (;;) {
      // Before any record is read: an abandoned transfer, or a newer one on the slot, is not ours to read.
      if (this.slot.load("state") === ChannelState.abandoned || this.slot.load("transfer") !== this.transfer)
        throw failure(
          "PeerGone",
          `receive on channel '${this.name}'`,
          "the sender abandoned the transfer before its end",
        );
      if (this.slot.load("head") !== this.tail) return;
      await waitForChange(this.slot, "head", this.tail, "receiverParked", this.sender, this.signal);
    }
  }

  /** Checks the end record against our own digest, and tells the sender the verdict. */
  private finish(): void {
    const at = this.ring.header(this.tail);
    const totalBytes = Number(this.ring.headers.getBigUint64(at + RecordField.totalBytes, true));
    const digest = this.ring.headers.getBigUint64(at + RecordField.digest, true);
    const intact = totalBytes === this.digest.bytes && digest === this.digest.value;
    this.ended = true;
    this.advance();
    this.slot.store("state", intact ? ChannelState.delivered : ChannelState.corrupted);
    this.slot.wake("state", ALL);
    if (!intact)
      throw failure(
        "DigestMismatch",
        `receive on channel '${this.name}'`,
        `the sender sent ${totalBytes} bytes with digest ${formatDigest(digest)} but ${this.digest.bytes} bytes with ` +
          `digest ${this.digest.hex} arrived`,
      );
  }

  private advance(): void {
    this.tail = (this.tail + 1) >>> 0;
    // Release: we are done reading the chunk before the sender may overwrite it.
    this.slot.store("tail", this.tail);
    wakeIfParked(this.slot, "tail", "senderParked");
    this.slot.client.keepAlive();
  }
}

/** The transfer to join: one that is streaming and that no receiver joined before (we get it from its start). */
async function awaitTransfer(
  slot: ChannelSlot,
  onWaiting?: () => void,
  signal?: AbortSignal,
): Promise<number> {
  for (let told = false; ; ) {
    const transfer = slot.load("transfer");
    if (
      transfer !== 0 &&
      slot.load("state") === ChannelState.streaming &&
      slot.load("receiverJoined") !== transfer
    )
      return transfer;
    if (!told) onWaiting?.();
    told = true;
    // No peer to watch yet: senders may come and go; only a new transfer number matters here.
    await waitForChange(slot, "transfer", transfer, "receiverParked", undefined, signal);
  }
}
