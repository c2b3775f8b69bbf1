/**
 * A granted segment: a run of blocks of the region this client may read (and write, if granted so).
 * Its `bytes` view is the shared memory itself, no copy. After `free()` the blocks are inaccessible again
 * (reserved, not mapped), so a view kept by mistake faults instead of silently reading another owner's data.
 */
import { failure, hasTrait } from "../errors.ts";
import { MAX_VIEW_BYTES, PROT_READ, PROT_WRITE } from "../ffi/index.ts";
import { type AccessModeName, accessModeName, type SegmentGrantFields } from "../protocol/messages.ts";
import { blockOffset, type Geometry } from "../region/layout.ts";

/** How many weak references to views a list holds before it forgets the collected ones (then twice what is left). */
const PRUNE_AT = 64;

/** What a segment needs of its client: the region's geometry and mapping, and a way to give it back. */
export interface SegmentOwner {
  readonly geometry: Geometry;
  readonly region: {
    bytes(offset: number, length: number): Uint8Array;
    address(offset: number): number;
  };
  releaseSegment(segment: Segment, letGo?: AbortSignal): Promise<void>;
  readonly isClosed: boolean;
  /** close() has begun: its goodbye gives the grants back. */
  readonly isClosing: boolean;
  /** Why the session is gone for good, if it is: its grants went back to the arbiter. */
  readonly lost: Error | undefined;
  /** The views of its freed segments, to detach once their blocks are mapped in for another grant. */
  readonly staleViews: StaleViews;
}

/**
 * Blocks of the region this client holds a grant on (from `Client.alloc()` or `Client.open()`): `bytes`
 * is the shared memory itself. `free()` gives the grant back and makes the blocks inaccessible again.
 */
export class Segment {
  readonly id: number;
  readonly name: string;
  readonly mode: AccessModeName;
  readonly firstBlock: number;
  readonly blockCount: number;
  /** Bytes asked for when the segment was allocated (the blocks may hold a little more). */
  readonly byteLength: number;
  /** Offset of the segment from the start of the region. */
  readonly offset: number;
  /** Bytes of the whole run of blocks. */
  readonly capacity: number;
  private view: Uint8Array | undefined;
  /** Every buffer a view of this segment was made on: detached if its blocks come back for another grant. */
  private buffers: WeakRef<ArrayBufferLike>[] = [];
  private pruneBuffersAt = PRUNE_AT;
  private freed = false;

  /** @internal Segments come from `Client.alloc()` and `Client.open()`. */
  constructor(
    private readonly client: SegmentOwner,
    grant: SegmentGrantFields,
  ) {
    this.id = grant.segmentId;
    this.name = grant.name;
    this.mode = accessModeName(grant.mode) ?? "read";
    this.firstBlock = grant.firstBlock;
    this.blockCount = grant.blockCount;
    this.byteLength = grant.bytes;
    this.offset = blockOffset(client.geometry, grant.firstBlock);
    this.capacity = grant.blockCount * client.geometry.blockSize;
  }

  /**
   * The segment's memory, zero copy: `byteLength` bytes. Held "read", its pages are mapped read-only: a
   * write through this view (or at `address`) is no exception but the end of the process, SIGSEGV (with
   * the native helper, ivsh says why first). After `free()`, or once the session is lost, this getter
   * throws, and a view kept from before faults the same way on its next touch; once this client is granted
   * those blocks again (another segment), such a view is detached instead: empty, it cannot reach that
   * segment (an `address` passed to native code can, and so can a view an unfinished asynchronous call
   * such as `fs.write` holds: Bun does not let that one go; and a buffer its memory was moved to by
   * `buffer.transfer()`, `structuredClone` or `postMessage` with a transfer list, which this segment
   * never sees: copy what leaves it, `slice()`, instead). One view holds at most
   * 4 GiB: for a larger segment this throws (InvalidArgument), and `subarray` views it in parts.
   */
  get bytes(): Uint8Array {
    this.checkLive();
    if (this.byteLength > MAX_VIEW_BYTES) throw this.tooLong("whole", this.byteLength);
    this.view ??= this.handOut(this.client.region.bytes(this.offset, this.byteLength));
    return this.view;
  }

  /**
   * A zero-copy view of part of the segment (indexes as `Uint8Array.subarray` takes them). The way to view
   * a segment of more than 4 GiB, which `bytes` cannot: one view holds at most that much.
   */
  subarray(start: number, end = this.byteLength): Uint8Array {
    if (this.byteLength <= MAX_VIEW_BYTES) return this.bytes.subarray(start, end);
    this.checkLive();
    const [from, to] = [clampIndex(start, this.byteLength), clampIndex(end, this.byteLength)];
    if (to <= from) return new Uint8Array(0); // Bun makes no view of 0 bytes over memory
    if (to - from > MAX_VIEW_BYTES) throw this.tooLong(`from byte ${from} to ${to}`, to - from);
    return this.handOut(this.client.region.bytes(this.offset + from, to - from));
  }

  private handOut(view: Uint8Array): Uint8Array {
    this.buffers.push(new WeakRef(view.buffer));
    // subarray() of a segment over 4 GiB makes a buffer per call: forget those the program dropped.
    if (this.buffers.length >= this.pruneBuffersAt) {
      this.buffers = this.buffers.filter((buffer) => buffer.deref() !== undefined);
      this.pruneBuffersAt = Math.max(PRUNE_AT, 2 * this.buffers.length);
    }
    return view;
  }

  private tooLong(part: string, bytes: number): Error {
    return failure(
      "InvalidArgument",
      `view segment ${this.name || this.id} ${part}`,
      `that is ${bytes} bytes and one view holds at most 4 GiB (Bun's limit): view it in parts with subarray(start, end), or pass its address to native code`,
    );
  }

  /** Address of the segment's first byte, for libc calls that read or write it in place. */
  get address(): number {
    this.checkLive();
    return this.client.region.address(this.offset);
  }

  /** @internal How its grant maps the blocks: read-only when held "read". */
  get protection(): number {
    return this.mode === "read" ? PROT_READ : PROT_READ | PROT_WRITE;
  }

  get isFreed(): boolean {
    return this.freed;
  }

  /** Protects the blocks again and gives up this client's grant. */
  free(): Promise<void> {
    return this.freeLettingGo();
  }

  /** @internal free(), its request let go of once `letGo` aborts: see Client.status(). */
  async freeLettingGo(letGo?: AbortSignal): Promise<void> {
    // close() released (or its goodbye is releasing) everything the client held: nothing is left to give back.
    if (this.client.isClosing && !this.freed) {
      this.freed = true;
      this.view = undefined;
      return;
    }
    if (!this.freed) this.client.staleViews.keep(this.offset, this.capacity, this.buffers);
    // A second free() (shm_dealloc twice) was told "use segment 4 since it was freed": say which call.
    if (this.freed)
      throw failure("NotHeld", `free segment ${this.id}`, "it was freed already (free a segment once)");
    this.checkLive();
    this.freed = true;
    this.view = undefined;
    try {
      await this.client.releaseSegment(this, letGo);
    } catch (error) {
      // Refused with the session alive (a full journal): still held, mapped again, to use or free again.
      if (!this.client.lost && !this.client.isClosing && !hasTrait(error, "harmlessOnRelease"))
        this.freed = false;
      throw error;
    }
  }

  private checkLive(): void {
    if (this.freed) throw failure("NotHeld", `use segment ${this.id}`, "it was freed");
    // From the goodbye on: it gives the blocks back, and another process may be granted them at once.
    if (this.client.isClosing)
      throw failure("ConnectionLost", `use segment ${this.id}`, "its client was closed (connect() again)");
    // Its blocks may be someone else's by now (they were withdrawn from this process when it was lost).
    if (this.client.lost) throw this.client.lost;
  }
}

/**
 * Views of segments this client freed. Their blocks are reserved again, so a view kept past free() faults;
 * but a later grant of this client may map the same blocks in at the same addresses (another segment, often
 * another process's), and such a view then read and wrote that segment. Its buffers are detached as they
 * are mapped in, before JavaScript can use them: the view is then empty (length 0), its reads undefined and
 * its writes dropped. `address` given to native code cannot be taken back so, nor a buffer Bun pinned, nor
 * one the memory was moved to (transfer(), structuredClone, postMessage: a new buffer, never handed out).
 */
export class StaleViews {
  private kept: { start: number; end: number; buffers: WeakRef<ArrayBufferLike>[] }[] = [];
  private pruneAt = PRUNE_AT;

  keep(offset: number, length: number, buffers: WeakRef<ArrayBufferLike>[]): void {
    if (buffers.length === 0) return;
    this.kept.push({ start: offset, end: offset + length, buffers });
    if (this.kept.length < this.pruneAt) return;
    // Views the program dropped need no detaching: forget them, so a long run of frees keeps no list.
    this.kept = this.kept.filter(({ buffers }) => buffers.some((buffer) => buffer.deref() !== undefined));
    this.pruneAt = Math.max(PRUNE_AT, 2 * this.kept.length);
  }

  /**
   * A grant's blocks were mapped in: detaches the kept views there, before any other JavaScript runs. Not
   * before: a buffer Bun pinned (an unfinished fs.write holds it) is copied instead of detached, and from
   * reserved pages that copy was SIGSEGV. Mapped, it reads the grant's bytes (and that view, like the
   * write holding it, still reaches them); where such a view reaches past the grant, the pages read as
   * zeros meanwhile. Best effort: a failure must not cost the grant (held, and never freed).
   */
  granted(region: ReservedPages, offset: number, length: number): void {
    const end = offset + length;
    const overlaps = (range: { start: number; end: number }) => range.start < end && range.end > offset;
    const overlapping = this.kept.filter(overlaps);
    if (overlapping.length === 0) return;
    this.kept = this.kept.filter((range) => !overlaps(range));
    for (const range of overlapping) {
      const live = range.buffers.map((buffer) => buffer.deref() as DetachableBuffer | undefined);
      const attached = live.filter(
        (buffer): buffer is DetachableBuffer => buffer !== undefined && !buffer.detached,
      );
      if (attached.length > 0) this.detachAll(region, attached, outside(range, offset, end));
    }
  }

  private detachAll(region: ReservedPages, buffers: DetachableBuffer[], holes: [number, number][]): void {
    try {
      try {
        for (const [from, to] of holes) region.zeros(from, to - from);
      } catch {
        // mmap failed (ENOMEM at vm.max_map_count): detached all the same, as a view left attached reaches
        // the grant. Only a pinned view's copy reads these pages, reserved: it faults, as the view would.
      }
      // transfer(0) detaches without copying (unless pinned): the memory stays the region's.
      for (const buffer of buffers)
        try {
          buffer.transfer(0);
        } catch {}
    } finally {
      try {
        for (const [from, to] of holes) region.revoke(from, to - from);
      } catch {}
    }
  }
}

/**
 * The parts of a freed run that a grant of [offset, end) leaves out: reserved pages. No other grant of this
 * client is there. Those held when the run was freed were held beside it (a block is one segment's, and
 * one client holds a segment once), and one granted since that overlaps it took it off the list. Not a
 * record of what is mapped: free() reserves its blocks before the arbiter answers, and a grant of them
 * answered in the same read was mapped in before free() resumed to strike its blocks off that record (a
 * pinned view's copy then read them, reserved: SIGSEGV).
 */
function outside(run: { start: number; end: number }, offset: number, end: number): [number, number][] {
  const parts: [number, number][] = [
    [run.start, Math.min(offset, run.end)],
    [Math.max(end, run.start), run.end],
  ];
  return parts.filter(([from, to]) => from < to);
}

type DetachableBuffer = ArrayBuffer & { detached?: boolean };

/** What detaching needs of the region: reserved pages readable for a moment, then reserved again. */
export interface ReservedPages {
  zeros(offset: number, length: number): void;
  revoke(offset: number, length: number): void;
}

/** An index as `Uint8Array.subarray` reads it: truncated, counted from the end if negative, clamped. */
function clampIndex(index: number, length: number): number {
  const whole = Math.trunc(Number(index)) || 0;
  return whole < 0 ? Math.max(length + whole, 0) : Math.min(whole, length);
}
