/**
 * Named accessors for a channel's ring: its record headers and chunks (the layout is defined in
 * src/region/layout.ts; the channel's slot words are slot.ts's). Record headers and chunks are plain
 * memory, ordered by the head and tail stores (slot words) that publish them.
 */
import { failure } from "../errors.ts";
import { populate } from "../ffi/index.ts";
import type { Segment } from "../guest/segment.ts";
import { PAGE_SIZE, RECORD_BYTES, RecordField, ringChunkOffset } from "../region/layout.ts";
import { formatBlockSize, shownNumber } from "../units.ts";

export const MAX_RING_DEPTH = 4096;

/** What is wrong with a ring of `depth` chunks of `chunkBytes`, if anything. */
export function ringGeometryProblem(chunkBytes: number, depth: number): string | undefined {
  return chunkSizeProblem(chunkBytes) ?? ringDepthProblem(depth);
}

/** What is wrong with a ring's chunk size, if anything. */
export function chunkSizeProblem(chunkBytes: number): string | undefined {
  if (
    !Number.isInteger(chunkBytes) ||
    chunkBytes < PAGE_SIZE ||
    chunkBytes % PAGE_SIZE !== 0 ||
    chunkBytes > 2 ** 31
  )
    return `the chunk size ${shownNumber(chunkBytes)} is not a multiple of ${formatBlockSize(PAGE_SIZE)} up to 2 GiB`;
  return undefined;
}

/** What is wrong with a ring's depth, if anything. */
export function ringDepthProblem(depth: number): string | undefined {
  if (!Number.isInteger(depth) || depth < 2 || depth > MAX_RING_DEPTH)
    return `the ring depth ${shownNumber(depth)} is outside 2..${MAX_RING_DEPTH}`;
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

  /**
   * The chunk of record `sequence`, counted from the transfer's start without wrapping: the position is
   * sequence mod depth. The u32 head and tail words wrap at 2^32, which not every depth divides (with
   * depth 3, records 2^32 - 1 and 2^32 took one chunk, the second overwriting the first unread).
   */
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
