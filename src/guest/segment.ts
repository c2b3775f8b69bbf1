/**
 * A granted segment: a run of blocks of the region this client may read (and write, if granted so).
 * Its `bytes` view is the shared memory itself, no copy. After `free()` the blocks are inaccessible again
 * (reserved, not mapped), so a view kept by mistake faults instead of silently reading another owner's data.
 */
import { failure } from "../errors.ts";
import { PROT_READ, PROT_WRITE } from "../ffi/index.ts";
import { type AccessModeName, accessModeName, type SegmentGrantFields } from "../protocol/messages.ts";
import { blockOffset, type Geometry } from "../region/layout.ts";

/** What a segment needs of its client: the region's geometry and mapping, and a way to give it back. */
export interface SegmentOwner {
  readonly geometry: Geometry;
  readonly region: {
    bytes(offset: number, length: number): Uint8Array;
    address(offset: number): number;
  };
  releaseSegment(segment: Segment): Promise<void>;
  readonly isClosed: boolean;
  /** close() has begun: its goodbye gives the grants back. */
  readonly isClosing: boolean;
  /** Why the session is gone for good, if it is: its grants went back to the arbiter. */
  readonly lost: Error | undefined;
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
   * throws, and a view kept from before faults the same way on its next touch.
   */
  get bytes(): Uint8Array {
    this.checkLive();
    this.view ??= this.client.region.bytes(this.offset, this.byteLength);
    return this.view;
  }

  /** A zero-copy view of part of the segment. */
  subarray(start: number, end = this.byteLength): Uint8Array {
    return this.bytes.subarray(start, end);
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
  async free(): Promise<void> {
    // close() released everything the client held: nothing is left to give back.
    if (this.client.isClosed && !this.freed) {
      this.freed = true;
      this.view = undefined;
      return;
    }
    // A second free() (shm_dealloc twice) was told "use segment 4 since it was freed": say which call.
    if (this.freed)
      throw failure("NotHeld", `free segment ${this.id}`, "it was freed already (free a segment once)");
    this.checkLive();
    this.freed = true;
    this.view = undefined;
    try {
      await this.client.releaseSegment(this);
    } catch (error) {
      // Refused with the session alive (a full journal): still held, mapped again, to use or free again.
      if (!this.client.lost && !this.client.isClosing) this.freed = false;
      throw error;
    }
  }

  private checkLive(): void {
    if (this.freed) throw failure("NotHeld", `use segment ${this.id}`, "it was freed");
    if (this.client.isClosed)
      throw failure("ConnectionLost", `use segment ${this.id}`, "its client was closed (connect() again)");
    // Its blocks may be someone else's by now (they were withdrawn from this process when it was lost).
    if (this.client.lost) throw this.client.lost;
  }
}
