/**
 * The channel digest computed straight from its definition (docs/layout.md), with Bun.hash.xxHash3
 * alone: what both implementations in src (native helper, portable path) must agree with.
 */
const PIECE = 64 * 1024;

export function referenceDigest(records: Iterable<Uint8Array>): bigint {
  let state = 0n;
  for (const record of records)
    for (let at = 0; at < record.byteLength; at += PIECE)
      state = Bun.hash.xxHash3(
        record.subarray(at, Math.min(at + PIECE, record.byteLength)),
        state & 0xffffffffn,
      );
  return state;
}

/** A stream cut into the records a sender with `chunk`-byte chunks that fills each chunk publishes. */
export function* recordsOf(data: Uint8Array, chunk: number): Generator<Uint8Array> {
  for (let at = 0; at < data.byteLength; at += chunk)
    yield data.subarray(at, Math.min(at + chunk, data.byteLength));
}

export function formatted(digest: bigint): string {
  return `xxh3:${digest.toString(16).padStart(16, "0")}`;
}

/** Bytes that are cheap to make and differ everywhere: a random 64 KiB seed block, each copy varied. */
export function testStream(bytes: number, seed = 1): Uint8Array {
  const data = new Uint8Array(bytes);
  const block = new Uint8Array(65536);
  let x = seed >>> 0 || 1;
  for (let index = 0; index < block.length; index++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    block[index] = x & 0xff;
  }
  for (let at = 0; at < bytes; at += block.length) {
    const piece = data.subarray(at, Math.min(at + block.length, bytes));
    piece.set(block.subarray(0, piece.length));
    piece[0] = (at / block.length) & 0xff;
  }
  return data;
}
