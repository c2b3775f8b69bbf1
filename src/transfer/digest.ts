/**
 * The end-to-end digest of a stream: XXH3-64, chained over pieces. Each record is cut into pieces of
 * DIGEST_PIECE_BYTES counted from its first byte (the last piece may be shorter); starting from 0, each
 * piece updates `state = XXH3-64(piece, seed = state mod 2^32)`. The end record carries the sender's state.
 *
 * Why pieces: both ends may hash at any piece boundary and still agree, so a sender assembling a chunk
 * from several writes hashes each piece while it is still in cache, and one that gets a whole piece at
 * once copies and hashes it in a single pass (the native helper, src/ffi/native.ts).
 *
 * Why a 32-bit seed: Bun.hash.xxHash3 uses only the low 32 bits of its seed (checked against the
 * reference implementation); saying so explicitly keeps the native helper, Bun, and any later Bun that
 * honours all 64 bits computing the same digest.
 *
 * XXH3 detects corruption and reordering of pieces; it is not a cryptographic hash and does not defend
 * against an attacker who can write the region.
 */
import { addressOf } from "../ffi/index.ts";
import { type NativeHash, nativeHash } from "../ffi/native.ts";

export const DIGEST_PIECE_BYTES = 64 * 1024;

const SEED_MASK = 0xffffffffn;

export class StreamDigest {
  bytes = 0;
  /** The state lives in memory so the native helper reads and updates it in place, allocating nothing. */
  private readonly state = new BigUint64Array(1);
  private readonly native: NativeHash | undefined;

  /** `portable` forces the portable path (the benchmark compares the two in one process). */
  constructor({ portable = false }: { portable?: boolean } = {}) {
    this.native = portable ? undefined : nativeHash();
  }

  /**
   * Adds `bytes`. It must start at a piece boundary of its record (the record's start, or right after an
   * update that ended on one) and end on one or at the record's end.
   */
  update(bytes: Uint8Array): void {
    const done = this.useNative(bytes.byteLength)
      ? this.native!.digestPieces(
          null,
          addressOf(bytes),
          bytes.byteLength,
          DIGEST_PIECE_BYTES,
          addressOf(this.state),
        )
      : 0;
    if (done < bytes.byteLength) this.hashPieces(bytes.subarray(done));
    this.bytes += bytes.byteLength;
  }

  /**
   * Copies `source` into `destination` (same length, not overlapping) and adds it, as `update` would
   * after the copy; with the native helper in one pass over the data. What is hashed is read from
   * `source` (a sender copying into a ring another guest may write), or with `hashCopy` only from
   * `destination` (a receiver copying out of one: the digest covers exactly what it copied).
   */
  copyAndUpdate(destination: Uint8Array, source: Uint8Array, hashCopy = false): void {
    const length = source.byteLength;
    if (destination.byteLength !== length)
      throw new RangeError(`copyAndUpdate: ${length} bytes into a ${destination.byteLength}-byte view`);
    const done = this.useNative(length)
      ? this.native!.digestPieces(
          addressOf(destination),
          addressOf(source),
          length,
          DIGEST_PIECE_BYTES,
          addressOf(this.state),
          hashCopy,
        )
      : 0;
    if (done < length) {
      destination.set(source.subarray(done), done);
      this.hashPieces((hashCopy ? destination : source).subarray(done));
    }
    this.bytes += length;
  }

  /** Whether `copyFromFile` can be used: the native helper can survive a source file truncated under it. */
  get copiesFromFiles(): boolean {
    return this.native?.copyFromFile !== undefined;
  }

  /**
   * `copyAndUpdate` from memory mapped from a file, wholly in the native helper (a fault in Bun's own copy
   * could not be survived), so its last piece must be longer than 240 bytes. False if the file's pages
   * could not be read (truncated meanwhile, or its storage failed): nothing is added and part of
   * `destination` written. Only where `copiesFromFiles`.
   */
  copyFromFile(destination: Uint8Array, source: Uint8Array): boolean {
    const length = source.byteLength;
    const last = length % DIGEST_PIECE_BYTES;
    if (destination.byteLength !== length || (last > 0 && last <= 240) || !this.copiesFromFiles)
      throw new RangeError(
        `copyFromFile: ${length} bytes into ${destination.byteLength} (a short last piece?)`,
      );
    const done = this.native!.copyFromFile!(
      addressOf(destination),
      addressOf(source),
      length,
      DIGEST_PIECE_BYTES,
      addressOf(this.state),
    );
    if (done === undefined) return false;
    this.bytes += done;
    return true;
  }

  get value(): bigint {
    return this.state[0]!;
  }

  get hex(): string {
    return formatDigest(this.value);
  }

  /** The helper does nothing for 240 bytes or less (XXH3's short inputs), and cannot take empty views. */
  private useNative(length: number): boolean {
    return this.native !== undefined && length > 240;
  }

  /** The portable path, and the native one's short last piece. */
  private hashPieces(bytes: Uint8Array): void {
    let state = this.state[0]!;
    for (let at = 0; at < bytes.byteLength; at += DIGEST_PIECE_BYTES)
      state = Bun.hash.xxHash3(bytes.subarray(at, at + DIGEST_PIECE_BYTES), state & SEED_MASK);
    this.state[0] = state;
  }
}

/** A transfer's digest as `ivsh` prints it: "xxh3:" and 16 hex digits. */
export function formatDigest(digest: bigint): string {
  return `xxh3:${digest.toString(16).padStart(16, "0")}`;
}
