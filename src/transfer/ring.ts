/**
 * Named accessors for a channel's slot words and its ring's record headers (the layout is defined in
 * src/region/layout.ts). Slot words are read and written with Atomics (shared with another process,
 * possibly in another VM); record headers and chunks are plain memory, ordered by the head and tail
 * stores that publish them.
 */
import { failure, hasTrait } from "../errors.ts";
import { populate } from "../ffi/index.ts";
import type { Segment } from "../guest/segment.ts";
import {
  ChannelWord,
  channelSlotName,
  LOCK_OWNER_DIED,
  LOCK_OWNER_MASK,
  PAGE_SIZE,
  RECORD_BYTES,
  RecordField,
  ringChunkOffset,
  slotWordIndex,
} from "../region/layout.ts";
import type { ChannelClient } from "./channel-client.ts";

export type ChannelWordName = keyof typeof ChannelWord;

export class ChannelSlot {
  private readonly base: number;

  constructor(
    readonly client: ChannelClient,
    readonly slot: number,
    /** The channel's name, for messages. */
    readonly channel: string,
  ) {
    this.base = slotWordIndex(client.geometry, slot, 0);
  }

  index(word: ChannelWordName): number {
    return this.base + ChannelWord[word];
  }

  load(word: ChannelWordName): number {
    return Atomics.load(this.client.words, this.index(word));
  }

  store(word: ChannelWordName, value: number): void {
    Atomics.store(this.client.words, this.index(word), value);
  }

  /** Stores `value` if the word holds `expected`; returns what it held (the swap happened if that is `expected`). */
  compareExchange(word: ChannelWordName, expected: number, value: number): number {
    return Atomics.compareExchange(this.client.words, this.index(word), expected, value);
  }

  /** The client id holding a lock word, and whether its previous holder died. */
  holder(word: "sender" | "receiver"): { owner: number; died: boolean } {
    const value = this.load(word);
    return { owner: value & LOCK_OWNER_MASK, died: (value & LOCK_OWNER_DIED) !== 0 };
  }

  /**
   * Before writing the slot or the ring again: if this process may have been frozen past its lease, the
   * arbiter may have handed both to someone else; ask it first (throws LeaseExpired if so).
   */
  async confirmLive(): Promise<void> {
    if (this.client.leaseInDoubt()) await this.client.confirmLease();
  }

  wake(word: ChannelWordName, count = 1): void {
    this.client.wakeWord(this.slot, ChannelWord[word], count);
  }

  /** Takes a role's lock word if free (or left by a dead holder); undefined if a live client holds it. */
  tryTake(word: "sender" | "receiver"): "acquired" | "owner-died" | undefined {
    const index = this.index(word);
    const seen = Atomics.load(this.client.words, index);
    if ((seen & LOCK_OWNER_MASK) !== 0) return undefined;
    if (Atomics.compareExchange(this.client.words, index, seen, this.client.clientId) !== seen)
      return undefined;
    return seen & LOCK_OWNER_DIED ? "owner-died" : "acquired";
  }

  /** Gives the role up, if this client still holds it. */
  release(word: "sender" | "receiver"): void {
    Atomics.compareExchange(this.client.words, this.index(word), this.client.clientId, 0);
  }
}

/**
 * Opens (or creates) the channel's slot and takes `role` for this client; a role a live client holds is
 * "channel busy". Returns the slot and whether the role's previous holder died holding it.
 */
export async function claimRole(
  client: ChannelClient,
  name: string,
  role: "sender" | "receiver",
): Promise<ChannelSlot> {
  const { slot: index } = await client.openSlot(channelSlotName(name), "channel", true);
  const slot = new ChannelSlot(client, index, name);
  if (slot.tryTake(role)) return slot;
  await ignoreLost(client.closeSlot(index));
  const verb = role === "sender" ? "send" : "receive";
  throw failure(
    "ChannelBusy",
    `${verb} on channel '${name}'`,
    `channel busy: client ${slot.holder(role).owner} is ${verb}ing on it`,
  );
}

/** Gives up `role` and the slot, after a transfer or a failed start. */
export async function releaseRole(slot: ChannelSlot, role: "sender" | "receiver"): Promise<void> {
  slot.release(role);
  await ignoreLost(slot.client.closeSlot(slot.slot));
}

export const MAX_RING_DEPTH = 4096;

/** What is wrong with a ring of `depth` chunks of `chunkBytes`, if anything. */
export function ringGeometryProblem(chunkBytes: number, depth: number): string | undefined {
  if (
    !Number.isInteger(chunkBytes) ||
    chunkBytes < PAGE_SIZE ||
    chunkBytes % PAGE_SIZE !== 0 ||
    chunkBytes > 2 ** 31
  )
    return `the chunk size ${chunkBytes} is not a multiple of 4 KiB up to 2 GiB`;
  if (!Number.isInteger(depth) || depth < 2 || depth > MAX_RING_DEPTH)
    return `the ring depth ${depth} is outside 2..${MAX_RING_DEPTH}`;
  return undefined;
}

/** Records published and not yet consumed; more than the ring holds means a counter was overwritten. */
export function recordsInFlight(head: number, tail: number, depth: number, channel: string): number {
  const inFlight = (head - tail) >>> 0;
  if (inFlight > depth)
    throw failure(
      "RegionCorrupted",
      `transfer on channel '${channel}'`,
      `its counters say ${inFlight} records are in a ring of ${depth} (head ${head >>> 0}, tail ${tail >>> 0}): the region was overwritten`,
    );
  return inFlight;
}

/** The ring: record headers, then chunks. */
export class Ring {
  readonly headers: DataView;
  readonly chunkOffset: number;
  private readonly views: (Uint8Array | undefined)[] = [];

  constructor(
    readonly segment: Segment,
    readonly depth: number,
    readonly chunkBytes: number,
  ) {
    const bytes = segment.bytes;
    this.headers = new DataView(bytes.buffer, bytes.byteOffset, depth * RECORD_BYTES);
    this.chunkOffset = ringChunkOffset(depth);
  }

  /** Maps the whole ring into our page tables up front: the first lap would otherwise fault on every page. */
  populate(forWriting: boolean): void {
    const { segment } = this;
    populate(segment.address, segment.byteLength, forWriting, `ring ${segment.name}`);
  }

  static bytesNeeded(depth: number, chunkBytes: number): number {
    return ringChunkOffset(depth) + depth * chunkBytes;
  }

  /** The chunk of record `sequence` (counters wrap; the ring position is sequence mod depth). */
  chunk(sequence: number): Uint8Array {
    const position = sequence % this.depth;
    // One view per position, made once: a transfer asks for a chunk thousands of times a second.
    let view = this.views[position];
    if (!view) {
      const at = this.chunkOffset + position * this.chunkBytes;
      view = this.segment.subarray(at, at + this.chunkBytes);
      this.views[position] = view;
    }
    return view;
  }

  chunkAddress(sequence: number): number {
    return this.segment.address + this.chunkAt(sequence);
  }

  header(sequence: number): number {
    return (sequence % this.depth) * RECORD_BYTES;
  }

  readLength(sequence: number): number {
    return this.headers.getUint32(this.header(sequence) + RecordField.length, true);
  }

  readFlags(sequence: number): number {
    return this.headers.getUint32(this.header(sequence) + RecordField.flags, true);
  }

  private chunkAt(sequence: number): number {
    return this.chunkOffset + (sequence % this.depth) * this.chunkBytes;
  }
}

/** Awaits a release step, ignoring that the arbiter already dropped this client (nothing left to release). */
export async function ignoreLost(promise: Promise<unknown>): Promise<void> {
  try {
    await promise;
  } catch (error) {
    if (!hasTrait(error, "harmlessOnRelease")) throw error;
  }
}
