/**
 * The sending end of a channel. It holds the channel's sender lock for the whole transfer (a second
 * sender gets "channel busy") and publishes a fresh ring for each transfer. Two ways to send:
 * - `send((chunk, address) => bytesWritten)` fills each chunk in place (zero copy: read(2) into `address`);
 * - `write(bytes)` copies data the caller holds in memory, like a socket write: it appends to the current
 *   chunk and publishes each chunk once full, hashing each byte from the caller's memory or a private
 *   buffer, never from the ring (./chunk-writer.ts). `flush()` publishes a partly filled chunk; `finish()`
 *   does too. `send` hashes the chunk its filler wrote, in the ring: a guest writing there meanwhile goes
 *   into the digest unseen; `write` is the path that keeps the digest to what the caller gave.
 */
import { failure, hasTrait, IvshError, isIvshError, throwIfAborted } from "../errors.ts";
import { ChannelState, confirmationOf, RECORD_END, RecordField, WAKE_ALL } from "../region/layout.ts";
import type { ChannelClient } from "./channel-client.ts";
import { ChunkWriter } from "./chunk-writer.ts";
import { StreamDigest } from "./digest.ts";
import { bytesToWrite, checkCallback, checkFilled } from "./end-arguments.ts";
import { oneAtATime } from "./one-at-a-time.ts";
import { Peer } from "./peer.ts";
import { awaitReceiverJoined, joinedReceiver } from "./receiver-join.ts";
import { releaseRingAndRole } from "./release-end.ts";
import { type Ring, recordsInFlight } from "./ring.ts";
import { type ChannelOptions, publishRing, ringShape } from "./ring-setup.ts";
import { type ChannelSlot, claimRole, closedEnd, releaseAfterFailure } from "./slot.ts";
import { waitForChange, wakeIfParked } from "./wait.ts";

/** Fills `chunk` (whose first byte is at `address`) and returns how many bytes it wrote. */
export type ChunkFiller = (chunk: Uint8Array, address: number) => number | Promise<number>;

/** A finished transfer, as its digest was verified. */
export interface TransferSummary {
  /** Bytes of the stream. */
  bytes: number;
  /** Data records (filled chunks) it took. */
  records: number;
  /** XXH3-64 of the stream as ivsh chains it (`formatDigest` prints it). */
  digest: bigint;
}

/**
 * The sending end of a channel: `write()` or `send()` fill the ring, `finish()` ends the stream and waits
 * for the receiver's verdict on its digest, `close()` lets go of the channel (abandoning an unfinished one).
 */
export class ChannelSender {
  /** @internal The running digest of what went through (its byte count is the progress shown). */
  readonly digest = new StreamDigest();
  /** Data records published. */
  records = 0;
  private head = 0; // records published, never wrapped (the slot's word holds it mod 2^32: Ring.chunk)
  /** Bytes published in data records so far. */
  private streamOffset = 0;
  private finished = false;
  private closing: Promise<void> | undefined;
  /** finish() has begun: the end record is (being) published, nothing may follow it. */
  private ending = false;
  private endOut = false;
  private arrivedAt: number | undefined;
  /** What `write` put into chunk `head` and has not published yet. */
  private readonly writer = new ChunkWriter(this.digest);

  private constructor(
    readonly name: string,
    /** @internal */ readonly slot: ChannelSlot,
    /** @internal */ readonly ring: Ring,
    readonly transfer: number,
    /** @internal */ readonly receiver: Peer,
    private readonly signal: AbortSignal | undefined,
    private readonly expectedBytes = 0,
  ) {}

  /**
   * Claims the channel `name` as its sender and allocates the ring; the receiver may join before or
   * after. Refused with "channel busy" while another sender has it.
   */
  static async open(
    client: ChannelClient,
    name: string,
    options: ChannelOptions = {},
  ): Promise<ChannelSender> {
    const shape = ringShape(client, name, options);
    const slot = await claimRole(client, name, "sender", options.signal);
    try {
      const { ring, transfer } = await publishRing(client, slot, name, shape, options);
      // The receiver that joins this transfer names itself in receiverId before it marks it joined.
      const receiver = new Peer(slot, "receiver", name, () => joinedReceiver(slot, transfer, name));
      return new ChannelSender(name, slot, ring, transfer, receiver, options.signal, options.expectedBytes);
    } catch (error) {
      await releaseAfterFailure(slot, "sender", options.signal, error);
      throw error;
    }
  }

  /**
   * Waits for a free chunk, lets `fill` write it in place, publishes it. Returns the bytes sent. The digest
   * is taken of the chunk as `fill` left it, in shared memory: bytes another guest writes there meanwhile
   * are sent and verified as if they were the caller's. `write` hashes the caller's own bytes instead.
   */
  async send(fill: ChunkFiller): Promise<number> {
    checkCallback(fill, "send", this.name);
    this.checkNotEnding();
    this.flush();
    await this.waitForSpace();
    this.checkOpen();
    const chunk = this.ring.chunk(this.head);
    let length: number;
    try {
      length = await fill(chunk, this.ring.chunkAddress(this.head));
    } catch (error) {
      throw this.slot.chunkFailure(error, `send on channel '${this.name}'`);
    }
    checkFilled(length, chunk.byteLength, this.name);
    if (length === 0) return 0;
    // The filler may have waited long (an idle pipe): after a freeze past the lease the slot is not ours.
    await this.slot.confirmLive(this.signal, `send on channel '${this.name}'`);
    this.checkOpen(); // closed while `fill` ran: the chunk went with the ring
    this.digest.update(chunk.subarray(0, length));
    this.publishData(length);
    return length;
  }

  /**
   * Copies `data` (a view of bytes, or an ArrayBuffer) into the stream after earlier calls' bytes, as chunks
   * free up; it is read until the returned promise resolves, so change it only after that (as with a socket).
   */
  write(data: ArrayBufferView | ArrayBufferLike): Promise<void> {
    return this.writeBytes(data, false);
  }

  /** @internal `write` from memory mapped from a file, in whole digest pieces (./mapped-file.ts). */
  writeFromFile(bytes: Uint8Array): Promise<void> {
    return this.writeBytes(bytes, true);
  }

  private async writeBytes(data: ArrayBufferView | ArrayBufferLike, fromFile: boolean): Promise<void> {
    const bytes = bytesToWrite(data, this.name);
    this.checkNotEnding();
    this.slot.throwIfLost();
    for (let taken = 0; taken < bytes.byteLength; ) {
      if (this.writer.filled === 0) await this.waitForSpace();
      this.checkOpen();
      this.slot.throwIfWithdrawn("send");
      const chunk = this.ring.chunk(this.head);
      taken += this.writer.take(chunk, taken === 0 ? bytes : bytes.subarray(taken), fromFile);
      if (this.writer.filled === chunk.byteLength) this.flush();
    }
  }

  /** Publishes the chunk `write` has partly filled, if any. */
  flush(): void {
    if (this.writer.filled === 0) return;
    this.checkNotEnding();
    this.slot.throwIfWithdrawn("send");
    this.publishData(this.writer.complete(this.ring.chunk(this.head)));
  }

  /**
   * Sends the end record and waits for the receiver's verdict (it got everything, digest matching).
   * Interrupted while waiting, we abandon the transfer unless the receiver decided first (then it is complete).
   */
  async finish(): Promise<TransferSummary> {
    this.flush();
    this.checkNotEnding();
    this.ending = true;
    await this.waitForSpace();
    this.checkOpen();
    this.slot.throwIfWithdrawn("send"); // nothing to flush, close() begun: the end record goes in the withdrawn ring
    const at = this.ring.header(this.head);
    this.ring.headers.setBigUint64(at + RecordField.totalBytes, BigInt(this.digest.bytes), true);
    this.ring.headers.setBigUint64(at + RecordField.digest, this.digest.value, true);
    // A signal that arrived while we waited for space wins over the end record.
    throwIfAborted(this.signal, `send on channel '${this.name}'`);
    this.endOut = true;
    this.publish(0, RECORD_END);
    const verdict = await this.verdictWhileLive();
    this.checkVerdict(verdict);
    return { bytes: this.digest.bytes, records: this.records, digest: this.digest.value };
  }

  /**
   * The verdict, read while our session still held the slot. Frozen past the lease while we waited, the
   * slot may have been freed and reused, so its state is not ours, and the receiver may have kept the
   * stream meanwhile: we cannot learn which, so we say exactly that rather than that the send failed.
   */
  private async verdictWhileLive(): Promise<number> {
    try {
      const verdict = await this.awaitVerdict();
      this.finished = true;
      await this.slot.confirmLive();
      return verdict;
    } catch (error) {
      if (!hasTrait(error, "endsSession")) throw error;
      // Not seen is all we know (the slot may be another's now): a join may have come unseen, or since.
      const outcome =
        this.arrivedAt === undefined
          ? `it waited for a receiver (${error.message}): none had been seen to join before this sender stopped, and one that joined unseen or since may have kept the whole stream`
          : `it waited for the receiver's verdict (${error.message}): the receiver may have kept the whole stream or given it up`;
      throw new IvshError(
        error.code,
        `Failed to learn the outcome of the send on channel '${this.name}' since this sender's session ended while ${outcome}; look on the receiving side before sending again`,
        { cause: error },
      );
    }
  }

  /** @internal The end record is out: a receiver may keep the whole stream from now on without us. */
  get endPublished(): boolean {
    return this.endOut;
  }

  /** performance.now() when we first saw the receiver there (undefined before): the transfer's time starts. */
  get receiverArrivedAt(): number | undefined {
    return this.arrivedAt;
  }

  /** Data after the end record, or a second end, would be read as corruption by both ends: refused. */
  private checkNotEnding(): void {
    this.checkOpen();
    if (this.ending)
      throw failure(
        "InvalidArgument",
        `send on channel '${this.name}'`,
        "this transfer has ended (finish() was called); open a new ChannelSender for another",
      );
  }

  /** After close() the ring is freed: a call, or a wait, that went on would touch memory no longer mapped. */
  private checkOpen(): void {
    if (this.closing) throw closedEnd("sender", this.name);
  }

  /** Whether a receiver has joined this transfer (it names itself, then marks the transfer joined). */
  get receiverJoined(): boolean {
    return this.slot.load("receiverJoined") === this.transfer;
  }

  /**
   * Gives the channel up. Before `finish` completed, the receiver is told the transfer was abandoned.
   * Called inside `send`'s callback, it takes the chunk with the ring (fill it only before the call); `send` throws NotHeld.
   * Refused by the full --state journal, it throws JournalFull (or another failure beside it, naming what was kept): the next send or receive gives back what was kept.
   */
  close(): Promise<void> {
    return this.closeLettingGo();
  }

  /** @internal close(), its requests let go of once `letGo` aborts (see Client.status): a given-up release's. */
  closeLettingGo(letGo?: AbortSignal): Promise<void> {
    // Once: a second close would give up the client's hold on the slot a second time.
    this.closing ??= this.giveUp(letGo);
    return this.closing;
  }

  private async giveUp(letGo: AbortSignal | undefined): Promise<void> {
    if (!this.finished && (await this.slot.stillLive(letGo))) this.abandon();
    await releaseRingAndRole(this.slot, "sender", this.ring.segment, letGo);
  }

  /** Waits while the transfer streams or the receiver keeps it; interrupted, abandons unless it decided first. */
  private async awaitVerdict(): Promise<number> {
    try {
      return await this.verdict();
    } catch (error) {
      throw await this.slot.unlessSessionLost(error);
    }
  }

  private async verdict(): Promise<number> {
    let signal = this.signal;
    for (;;) {
      const state = this.slot.load("state");
      if (state !== ChannelState.streaming && state !== ChannelState.keeping) return state;
      const check = () => this.checkOwnHead();
      try {
        await this.awaitReceiver(signal, check);
        await waitForChange({ ...this.waitOn("state", state), signal, check });
      } catch (error) {
        if (isIvshError(error, "PeerGone") && !this.dropDeadKeeper()) continue;
        if (!isIvshError(error, "Interrupted") || this.abandon()) throw error;
        signal = undefined;
      }
    }
  }

  /**
   * The receiver died (its lease expired: a freeze) while keeping the result: keeping → dropped, so that
   * if it resumes, its verdict (a CAS from keeping) fails and it gives the file up rather than keep what
   * we report as failed. False if its verdict was there first: then that verdict is the outcome.
   */
  private dropDeadKeeper(): boolean {
    const { keeping, dropped, streaming } = ChannelState;
    const seen = this.slot.compareExchange("state", keeping, dropped);
    if (seen === keeping) this.slot.wake("state", WAKE_ALL);
    return seen === keeping || seen === streaming;
  }

  /** Moves the transfer from streaming to abandoned; false if the receiver's verdict was there first. */
  private abandon(): boolean {
    const { streaming, abandoned } = ChannelState;
    if (this.slot.compareExchange("state", streaming, abandoned) !== streaming) return false;
    this.slot.wake("head", WAKE_ALL);
    return true;
  }

  private checkVerdict(state: number): void {
    const what = `send on channel '${this.name}'`;
    const confirmed = this.slot.load("confirmation") === confirmationOf(this.digest.value, this.transfer);
    if (state === ChannelState.delivered && confirmed) return;
    if (state === ChannelState.corrupted)
      throw failure("DigestMismatch", what, "the receiver's digest of the stream differs from ours");
    if (state === ChannelState.refused)
      throw failure("PeerGone", what, "the receiver got the stream intact but could not keep it");
    if (state === ChannelState.dropped) throw this.receiver.gaveUp();
    const found = state === ChannelState.delivered ? "a confirmation that is not ours" : `state ${state}`;
    throw failure("RegionCorrupted", what, `the channel holds ${found} (the region was overwritten?)`);
  }

  /** What every wait of ours has in common: our parked flag and the receiver to watch. */
  private waitOn(word: "state" | "tail", seen: number) {
    return { slot: this.slot, word, seen, parkedFlag: "senderParked" as const, peer: this.receiver };
  }

  /**
   * Our own head word is ours alone: another value there was overwritten, and left so, it would have the
   * receiver and us wait on each other for ever.
   */
  private checkOwnHead(): boolean {
    const head = this.slot.load("head") >>> 0; // the Int32 word holds a u32: 2^31 on reads back negative
    if (head === this.head >>> 0) return false;
    throw failure(
      "RegionCorrupted",
      `send on channel '${this.name}'`,
      `the head counter holds ${head}, not the ${this.head >>> 0} we published: the region was overwritten`,
    );
  }

  /** While we wait for space: the receiver may leave (dropped), or the state be overwritten. */
  private checkStreaming(): boolean {
    this.checkOpen();
    this.checkOwnHead();
    const state = this.slot.load("state");
    if (state === ChannelState.streaming) return false;
    if (state === ChannelState.dropped) throw this.receiver.gaveUp();
    throw failure(
      "RegionCorrupted",
      `send on channel '${this.name}'`,
      `the channel's state became ${state} while we stream: the region was overwritten`,
    );
  }

  private async waitForSpace(): Promise<void> {
    await this.spaceInRing().catch(async (error: unknown) => {
      throw await this.slot.unlessSessionLost(error);
    });
  }

  private async spaceInRing(): Promise<void> {
    const { depth } = this.ring;
    await this.slot.confirmLive(this.signal, `send on channel '${this.name}'`);
    const check = () => this.checkStreaming();
    this.noteReceiver();
    for (;;) {
      check();
      const tail = this.slot.load("tail");
      if (recordsInFlight(this.head, tail, depth, this.name) < depth) return;
      await this.awaitReceiver(this.signal, check);
      await waitForChange({ ...this.waitOn("tail", tail), signal: this.signal, check });
    }
  }

  /** Until a receiver joins, nothing else we wait on can change (./receiver-join.ts); its arrival starts the transfer's time. */
  private async awaitReceiver(signal: AbortSignal | undefined, check: () => boolean): Promise<void> {
    await awaitReceiverJoined(this.slot, this.transfer, this.name, signal, check);
    this.noteReceiver();
  }

  /** Looked at before every chunk, so a receiver there from the start is seen there. */
  private noteReceiver(): void {
    if (this.arrivedAt === undefined && this.receiverJoined) this.arrivedAt = performance.now();
  }

  private publishData(length: number): void {
    this.records++;
    this.streamOffset += length;
    // Progress only (the receiver's bar, `ivsh status`): the stream's size (0: unknown), how far it came.
    const at = this.ring.header(this.head);
    this.ring.headers.setBigUint64(at + RecordField.totalBytes, BigInt(this.expectedBytes), true);
    this.ring.headers.setBigUint64(at + RecordField.streamOffset, BigInt(this.streamOffset), true);
    this.publish(length, 0);
  }

  private publish(length: number, flags: number): void {
    const at = this.ring.header(this.head);
    this.ring.headers.setUint32(at + RecordField.length, length, true);
    this.ring.headers.setUint32(at + RecordField.flags, flags, true);
    this.head++;
    // Release: the chunk and its header are written before the receiver can see the new head.
    this.slot.store("head", this.head);
    wakeIfParked(this.slot, "head", "receiverParked");
    this.slot.client.keepAlive();
  }
}
oneAtATime(ChannelSender.prototype, ["write", "writeFromFile", "send"], "finish"); // a call waits for the earlier ones
