/**
 * How `ChannelSender.write` puts the caller's bytes into the chunk it is filling, hashing each byte from
 * memory no other process can write, never from the ring. Any guest can write the ring (IVSHMEM gives no
 * isolation): a byte hashed after it reached the chunk would have the digest cover whatever a buggy guest
 * put there meanwhile, and the receiver, reading the same bytes, would verify a stream that is not the
 * one sent.
 * - Whole digest pieces straight from the caller are copied and hashed in one pass (the native helper
 *   hashes the source as it copies).
 * - A piece put together from smaller writes waits in a private buffer (cache-sized) until it is complete
 *   (or the chunk is published), then is copied and hashed the same way.
 * - Bytes of a mapped file (`fromFile`) are copied by the native helper alone, which survives the file
 *   being truncated under the mapping (./mapped-file.ts).
 */
import { failure } from "../errors.ts";
import { DIGEST_PIECE_BYTES, type StreamDigest } from "./digest.ts";

/** Why a copy from a mapped file stopped; the sender words it for the file (./mapped-file.ts). */
export const FILE_PAGES_LOST =
  "its pages could not be read (it was truncated meanwhile, or its storage failed)";

export class ChunkWriter {
  /** Bytes copied into the chunk being filled (all hashed). */
  private copied = 0;
  /** Bytes of the next piece, waiting in `piece`. */
  private staged = 0;
  private piece: Uint8Array | undefined;

  constructor(private readonly digest: StreamDigest) {}

  /** Bytes taken for the chunk being filled, copied or staged. */
  get filled(): number {
    return this.copied + this.staged;
  }

  /**
   * Takes bytes from the start of `source` for `chunk`; returns how many (at least one). `fromFile`: a
   * mapped file's bytes, up to the chunk's end in one native copy: the caller cuts them so that a take
   * that does not end the chunk ends on a digest piece's boundary, or ends the stream on a last piece of
   * more than 240 bytes (./mapped-file.ts).
   */
  take(chunk: Uint8Array, source: Uint8Array, fromFile = false): number {
    if (fromFile) return this.copyFromFile(chunk, source);
    return this.copyWholePieces(chunk, source) || this.stagePartOfPiece(chunk, source);
  }

  /** Copies what is staged into `chunk` and returns the bytes the chunk now holds; the next chunk starts empty. */
  complete(chunk: Uint8Array): number {
    this.copyStaged(chunk);
    const length = this.copied;
    this.copied = 0;
    return length;
  }

  /** Whole pieces up to the chunk's end (whose last piece may be short), when none is staged: 0 if none. */
  private copyWholePieces(chunk: Uint8Array, source: Uint8Array): number {
    if (this.staged !== 0) return 0;
    const room = chunk.byteLength - this.copied;
    const count =
      source.byteLength >= room ? room : source.byteLength - (source.byteLength % DIGEST_PIECE_BYTES);
    if (count === 0) return 0;
    this.digest.copyAndUpdate(
      this.room(chunk, count),
      count === source.byteLength ? source : source.subarray(0, count),
    );
    this.copied += count;
    return count;
  }

  private copyFromFile(chunk: Uint8Array, source: Uint8Array): number {
    if (this.staged !== 0) throw new RangeError("ChunkWriter: a mapped file's bytes after staged ones");
    const count = Math.min(chunk.byteLength - this.copied, source.byteLength);
    const from = count === source.byteLength ? source : source.subarray(0, count);
    if (!this.digest.copyFromFile(this.room(chunk, count), from))
      throw failure("SourceChanged", "copy from the file", FILE_PAGES_LOST);
    this.copied += count;
    return count;
  }

  /** The next `count` bytes of `chunk` to fill. */
  private room(chunk: Uint8Array, count: number): Uint8Array {
    return count === chunk.byteLength ? chunk : chunk.subarray(this.copied, this.copied + count);
  }

  /** Part of a piece goes to the private buffer; a piece so completed is copied and hashed at once. */
  private stagePartOfPiece(chunk: Uint8Array, source: Uint8Array): number {
    const pieceBytes = Math.min(DIGEST_PIECE_BYTES, chunk.byteLength - this.copied);
    const count = Math.min(pieceBytes - this.staged, source.byteLength);
    this.piece ??= new Uint8Array(DIGEST_PIECE_BYTES);
    this.piece.set(source.subarray(0, count), this.staged);
    this.staged += count;
    if (this.staged === pieceBytes) this.copyStaged(chunk);
    return count;
  }

  private copyStaged(chunk: Uint8Array): void {
    if (this.staged === 0) return;
    const at = this.copied;
    this.digest.copyAndUpdate(chunk.subarray(at, at + this.staged), this.piece!.subarray(0, this.staged));
    this.copied += this.staged;
    this.staged = 0;
  }
}
