/**
 * The receiving end of a channel. It holds the receiver lock (a second receiver gets "channel busy"),
 * joins a transfer from its start (waiting for a sender if there is none yet), and hands each chunk to
 * the caller in place: `receive((chunk, address) => ...)`, e.g. write(2) straight from `address`.
 *
 * Every value read from the shared region (ring geometry, counters, record headers) is checked before use:
 * another guest may have overwritten it; that must end in RegionCorrupted, not a hang or a read off the ring.
 */
import { failure, isIvshError } from "../errors.ts";
import { addressOf } from "../ffi/index.ts";
import { ChannelState, confirmationOf, RECORD_END, RecordField, WAKE_ALL } from "../region/layout.ts";
import type { ChannelClient } from "./channel-client.ts";
import { DIGEST_PIECE_BYTES, formatDigest, StreamDigest } from "./digest.ts";
import { checkCallback, checkEndArguments } from "./end-arguments.ts";
import { oneAtATime } from "./one-at-a-time.ts";
import { Peer } from "./peer.ts";
import { awaitTransfer, openRing, type RingFound, type SenderSetupFailure } from "./receiver-ring.ts";
import { giveBack, giveBackRefused } from "./refused-frees.ts";
import { releaseRingAndRole } from "./release-end.ts";
import { type Ring, recordsInFlight } from "./ring.ts";
import type { TransferSummary } from "./sender.ts";
import { type ChannelSlot, claimRole, closedEnd, releaseAfterFailure } from "./slot.ts";
import { waitForChange, wakeIfParked } from "./wait.ts";

/** Called with each received chunk (awaited if it returns a promise). */
export type ChunkConsumer = (chunk: Uint8Array, address: number) => unknown;

/**
 * What the receiver does with a verified stream before it tells the sender: `keep` makes the result final
 * (renames FILE.partial to FILE). It runs after the receiver has claimed the verdict (state keeping), so
 * the sender can no longer abandon the transfer under it.
 */
export interface StreamKeeper {
  /** Before `keep`, once the stream is verified: the copy made durable if asked (off the event loop). */
  flush?(): Promise<void>;
  keep(): void;
  /**
   * The verdict could not be told after all (our session expired while we kept the result): undo `keep`,
   * so that a failed receive never leaves a file under its final name (FILE goes back to FILE.partial).
   */
  unkeep(): void;
}

/** How `ChannelReceiver.open()` waits. */
export interface ReceiverOptions {
  /** Called if the receiver must wait for a sender. */
  onWaiting?: () => void;
  /**
   * Called, while the receiver waits, for each sender that came but could not set up its ring (the region
   * or its quota too small): the receiver waits on for another.
   */
  onSenderFailed?: (failed: SenderSetupFailure) => void;
  /** Ends any wait with an Interrupted error when aborted. */
  signal?: AbortSignal;
  keeper?: StreamKeeper;
  /**
   * @internal Called as the receiver joins a transfer (its sender streams to it from then on), before the
   * ring is opened: a session lost after that lost the sender's transfer too (withPeerWait's redo).
   */
  onJoined?: () => void;
  /** @internal Called with the slot once the receiver role is claimed: what its wait may tell at a limit. */
  onClaimed?: (slot: ChannelSlot) => void;
}

/** What ChannelReceiver.open() takes (ReceiverOptions). */
const RECEIVER_OPTIONS = ["onWaiting", "onSenderFailed", "signal", "keeper", "onJoined", "onClaimed"];

/**
 * The receiving end of a channel: `receive()` hands each chunk in place, in order, and once the sender
 * finished checks the stream's digest and tells the sender; `close()` lets go of the channel.
 */
export class ChannelReceiver {
  /** @internal The running digest of what went through (its byte count is the progress shown). */
  readonly digest = new StreamDigest();
  /** Data records received. */
  records = 0;
  private tail = 0; // records consumed, never wrapped (the slot's word holds it mod 2^32: Ring.chunk)
  private ended = false;
  /** The end's verdict: a receive() after it is told the same, not an end of stream after a failure. */
  private ending: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly name: string,
    /** @internal */ readonly slot: ChannelSlot,
    /** @internal */ readonly ring: Ring,
    readonly transfer: number,
    /** @internal */ readonly sender: Peer,
    private readonly options: ReceiverOptions,
  ) {}

  /** Attaches as the receiver and waits until a transfer starts (`onWaiting` is called if it must wait). */
  static async open(
    client: ChannelClient,
    name: string,
    options: ReceiverOptions = {},
  ): Promise<ChannelReceiver> {
    checkEndArguments(client, name, options, RECEIVER_OPTIONS);
    await giveBackRefused(client, "receive", name, options.signal); // what a full journal kept held at a last failure
    const slot = await claimRole(client, name, "receiver", options.signal);
    options.onClaimed?.(slot);
    try {
      const transfer = await awaitTransfer(slot, options.onWaiting, options.signal, options.onSenderFailed);
      // Our id first: a sender that sees the transfer joined reads it to know whose lock word to watch.
      slot.store("receiverId", client.clientId);
      slot.store("receiverJoined", transfer);
      options.onJoined?.();
      // A sender parked until someone joins (it raised senderParked, then re-read receiverJoined). Not
      // claimed (CAS): late, that would take the flag the sender raised since to park on `tail`.
      if (slot.load("senderParked") === 1) slot.wake("receiverJoined");
      // No such ring: its sender freed it (it gave up) or died with it before we could open it (another
      // client may hold a segment by its name since: openRing tells it apart by its id).
      const opening = openRing(client, slot, name, transfer, options.signal);
      const found = await opening.catch((error: unknown): RingFound => {
        if (isIvshError(error, "NotFound")) return {};
        throw error;
      });
      const { ring } = found;
      // The sender of a streaming transfer holds its lock; if nobody does, it died or left already.
      const { owner, died } = slot.holder("sender");
      // Unless it is we who were away: frozen past our lease while joining (a paused VM), the sender that
      // gave up on us has gone since, and "lease expired" is the story (as Peer.goneError judges).
      if (owner === 0 || !ring) {
        // Ours alone now: not kept until the client closes (or, refused, said to be).
        const kept = ring ? await giveBack(client, ring.segment) : found.kept;
        throw (
          (await slot.sessionLost()) ??
          failure(
            "PeerGone",
            `receive on channel '${name}'`,
            `the sender ${died ? "died" : "went away"} before we joined${kept ? `; ${kept}` : ""}`,
          )
        );
      }
      const sender = Peer.attached(slot, "sender", name, owner);
      return new ChannelReceiver(name, slot, ring, transfer, sender, options);
    } catch (error) {
      const told = await slot.unlessSessionLost(error);
      await releaseAfterFailure(slot, "receiver", options.signal, error);
      throw told;
    }
  }

  /**
   * Waits for the next record and hands its chunk to `consume`. Returns the chunk's length, or undefined
   * at the end of the stream (after checking the digest, keeping the result and telling the sender).
   * With `bounce` the chunk is handed on in pieces copied into it instead (consumeCopied).
   */
  async receive(consume: ChunkConsumer, bounce?: Uint8Array): Promise<number | undefined> {
    checkCallback(consume, "receive", this.name);
    checkBounce(bounce, this.name);
    try {
      return await this.receiveNext(consume, bounce);
    } catch (error) {
      throw await this.slot.unlessSessionLost(error);
    }
  }

  private async receiveNext(consume: ChunkConsumer, bounce?: Uint8Array): Promise<number | undefined> {
    if (this.ending) return this.ending.then(() => undefined);
    await this.nextRecord();
    this.checkOpen();
    this.slot.throwIfWithdrawn("receive"); // close() begun before or during the wait: the record is in the withdrawn ring
    const length = this.ring.readLength(this.tail);
    const flags = this.ring.readFlags(this.tail);
    if (flags === RECORD_END && length === 0) {
      this.ending = this.finish();
      await this.ending;
      return undefined;
    }
    if (flags !== 0 || length === 0 || length > this.ring.chunkBytes)
      throw this.corrupted(`record ${this.tail} claims ${length} bytes with flags ${flags}`);
    const at = this.ring.header(this.tail);
    this.expectedBytes =
      Number(this.ring.headers.getBigUint64(at + RecordField.totalBytes, true)) || undefined;
    const whole = this.ring.chunk(this.tail);
    const chunk = length === whole.byteLength ? whole : whole.subarray(0, length);
    try {
      if (bounce) await this.consumeCopied(chunk, bounce, consume);
      else await consume(chunk, this.ring.chunkAddress(this.tail));
    } catch (error) {
      throw this.slot.chunkFailure(error, `receive on channel '${this.name}'`);
    }
    // The consumer may have waited long (a stalled pipe): after a freeze past the lease, the slot is not
    // ours, and a session lost meanwhile has the chunk withdrawn: checked before the digest reads it.
    await this.slot.confirmLive(this.options.signal, `receive on channel '${this.name}'`);
    this.checkOpen(); // closed while `consume` ran: the chunk went with the ring
    this.slot.throwIfWithdrawn("receive"); // as it did with the client's close() begun in `consume`
    if (!bounce) this.digest.update(chunk);
    this.records++;
    this.advance();
    return length;
  }

  /**
   * The chunk through private memory: each piece is copied into `bounce` and hashed in the same pass (what
   * is hashed is exactly what `consume` gets, whatever another guest writes into the ring meanwhile), then
   * handed on. For a consumer that cannot take the ring's memory itself (vmsplice: src/ffi/splice.ts).
   */
  private async consumeCopied(chunk: Uint8Array, bounce: Uint8Array, consume: ChunkConsumer): Promise<void> {
    for (let at = 0; at < chunk.byteLength; at += bounce.byteLength) {
      this.checkOpen(); // closed while the last piece was consumed: the chunk went with the ring
      this.slot.throwIfWithdrawn("receive"); // or the session lost, or close() begun, meanwhile: a copy would fault
      const piece = bounce.subarray(0, Math.min(bounce.byteLength, chunk.byteLength - at));
      this.digest.copyAndUpdate(piece, chunk.subarray(at, at + piece.byteLength), true);
      await consume(piece, addressOf(piece));
    }
  }

  /** The stream's size as the sender announced it on its last data record, if it knew it: for progress. */
  expectedBytes: number | undefined;

  /** What was received, once the end record arrived and matched. */
  summary(): TransferSummary {
    return { bytes: this.digest.bytes, records: this.records, digest: this.digest.value };
  }

  /**
   * Gives the channel up. Before the end, the sender is told we left (dropped), so it stops at once.
   * Called from inside `receive`'s callback, it takes the chunk with the ring: touch the chunk only before
   * the call (after an `await` in the callback, the ring may already be unmapped, and touching it ends the
   * process with ivsh's "touched shared memory it holds no grant for"); `receive` then throws NotHeld.
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
    if (!this.ended && (await this.slot.stillLive(letGo)) && this.decide(ChannelState.dropped))
      this.slot.wake("tail", WAKE_ALL);
    await releaseRingAndRole(this.slot, "receiver", this.ring.segment, letGo);
  }

  /** After close() the ring is freed: a call, or a wait, that went on would touch memory no longer mapped. */
  private checkOpen(): void {
    if (this.closing) throw closedEnd("receiver", this.name);
  }

  private async nextRecord(): Promise<void> {
    const action = `receive on channel '${this.name}'`;
    await this.slot.confirmLive(this.options.signal, action);
    const check = () => this.checkStillOurs();
    const { slot, sender: peer, options } = this;
    try {
      for (;;) {
        check();
        const head = this.slot.load("head");
        if (recordsInFlight(head, this.tail, this.ring.depth, this.name) > 0) return;
        const seen = this.tail | 0; // as the Int32 word reads back
        const wait = { slot, word: "head", seen, parkedFlag: "receiverParked", peer, check } as const;
        await waitForChange({ ...wait, signal: options.signal });
      }
    } catch (error) {
      // The channel no longer ours, seen by a receiver let go after a freeze: its own lease, expired meanwhile
      // (the slot freed, read as a new transfer), is what happened, and what it is told.
      if (isIvshError(error, "PeerGone") || isIvshError(error, "RegionCorrupted"))
        await this.slot.confirmLive(options.signal, action);
      throw error;
    }
  }

  /**
   * Before any record is read: an abandoned transfer, or a newer one on the slot, is not ours to read. A
   * new transfer number while our sender still holds its end was not written by a sender.
   */
  private checkStillOurs(): boolean {
    this.checkOpen();
    const what = `receive on channel '${this.name}'`;
    const state = this.slot.load("state");
    if (state === ChannelState.abandoned) throw this.sender.gaveUp();
    if (state !== ChannelState.streaming)
      throw this.corrupted(`the channel's state became ${state} while the sender streams`);
    const tail = this.slot.load("tail") >>> 0; // a u32 in an Int32 word: from 2^31 on it reads back negative
    // Our own counter: another value there would have the sender and us wait on each other for ever.
    if (tail !== this.tail >>> 0)
      throw this.corrupted(`the tail counter holds ${tail}, not our ${this.tail >>> 0}`);
    const transfer = this.slot.load("transfer");
    if (transfer === this.transfer) return false;
    if (!this.sender.departure())
      throw failure(
        "RegionCorrupted",
        what,
        `the channel's transfer number changed from ${this.transfer} to ${transfer} while its sender streams: the region was overwritten`,
      );
    throw failure("PeerGone", what, "the sender left, and a new transfer started on the channel");
  }

  /**
   * Checks the end record against our digest; if it matches, claims the verdict (streaming to keeping: one
   * compare-and-swap decides between us and a sender abandoning at the very end), keeps it, tells the sender.
   */
  private async finish(): Promise<void> {
    const at = this.ring.header(this.tail);
    const totalBytes = Number(this.ring.headers.getBigUint64(at + RecordField.totalBytes, true));
    const digest = this.ring.headers.getBigUint64(at + RecordField.digest, true);
    this.ended = true;
    this.advance();
    // A verdict written after a freeze past the lease could land on someone else's transfer.
    await this.slot.confirmLive();
    if (totalBytes !== this.digest.bytes || digest !== this.digest.value) {
      this.decide(ChannelState.corrupted);
      throw failure(
        "DigestMismatch",
        `receive on channel '${this.name}'`,
        `the sender sent ${totalBytes} bytes with digest ${formatDigest(digest)} but ${this.digest.bytes} bytes with ` +
          `digest ${this.digest.hex} arrived`,
      );
    }
    if (!this.decide(ChannelState.keeping)) throw this.sender.gaveUp(); // it abandoned at the very end
    try {
      await this.options.keeper?.flush?.();
      this.options.keeper?.keep();
    } catch (error) {
      this.settle(ChannelState.refused);
      throw error;
    }
    try {
      await this.slot.confirmLive(); // keeping (a rename) may have been where a freeze caught us
    } catch (error) {
      // The session, and with it the slot, may be someone else's now: no verdict can be told.
      this.options.keeper?.unkeep();
      throw error;
    }
    // The confirmation first: a sender that sees delivered reads it to know the verdict is ours.
    this.slot.store("confirmation", confirmationOf(this.digest.value, this.transfer));
    if (this.settle(ChannelState.delivered)) return;
    // A freeze past our lease after the check above: the sender saw us dead and dropped the transfer.
    this.options.keeper?.unkeep();
    throw (
      (await this.slot.sessionLost()) ??
      failure(
        "PeerGone",
        `receive on channel '${this.name}'`,
        "the sender gave the transfer up while we kept it (it saw our session end: were we frozen past the lease?)",
      )
    );
  }

  /** Moves the transfer from streaming to `verdict`; false if the sender abandoned it first. */
  private decide(verdict: number): boolean {
    const won =
      this.slot.compareExchange("state", ChannelState.streaming, verdict) === ChannelState.streaming;
    this.slot.wake("state", WAKE_ALL);
    return won;
  }

  /**
   * From keeping to the final verdict, a CAS: false if the sender dropped the transfer first, which it
   * does only once the arbiter has ended our session (sender.ts `dropDeadKeeper`).
   */
  private settle(verdict: number): boolean {
    const won = this.slot.compareExchange("state", ChannelState.keeping, verdict) === ChannelState.keeping;
    this.slot.wake("state", WAKE_ALL);
    return won;
  }

  private corrupted(what: string) {
    return failure(
      "RegionCorrupted",
      `receive on channel '${this.name}'`,
      `${what} (its chunks hold ${this.ring.chunkBytes}): the region was overwritten`,
    );
  }

  private advance(): void {
    this.tail++;
    // Release: we are done reading the chunk before the sender may overwrite it.
    this.slot.store("tail", this.tail);
    wakeIfParked(this.slot, "tail", "senderParked");
    this.slot.client.keepAlive();
  }
}
oneAtATime(ChannelReceiver.prototype, ["receive"]); // two receives in flight handed one chunk twice

/** A bounce buffer holds whole digest pieces (each copy must end on a piece boundary: digest.ts). */
function checkBounce(bounce: Uint8Array | undefined, channel: string): void {
  if (bounce === undefined) return;
  if (!(bounce instanceof Uint8Array) || bounce.byteLength === 0 || bounce.byteLength % DIGEST_PIECE_BYTES)
    throw failure(
      "InvalidArgument",
      `receive on channel '${channel}'`,
      `the bounce buffer must be a Uint8Array of a whole number of ${DIGEST_PIECE_BYTES}-byte pieces`,
    );
}
