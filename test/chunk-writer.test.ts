/**
 * ChunkWriter (src/transfer/chunk-writer.ts) on its own: small writes staged into chunks whose size is not
 * a whole number of digest pieces (a --chunk-size of 4 KiB or 96 KiB). The whole-transfer tests use 64 KiB
 * multiples, where a piece never outgrows the chunk.
 */
import { expect, test } from "bun:test";
import { ChunkWriter } from "../src/transfer/chunk-writer.ts";
import { StreamDigest } from "../src/transfer/digest.ts";

/** Fills chunks of `chunkBytes` from writes of `writeBytes`, as ChannelSender.write does; returns the chunks. */
function fill(data: Uint8Array, chunkBytes: number, writeBytes: number, digest: StreamDigest): Uint8Array[] {
  const writer = new ChunkWriter(digest);
  const chunks: Uint8Array[] = [];
  let chunk = new Uint8Array(chunkBytes);
  for (let at = 0; at < data.byteLength; at += writeBytes) {
    const bytes = data.subarray(at, at + writeBytes);
    for (let taken = 0; taken < bytes.byteLength; ) {
      taken += writer.take(chunk, bytes.subarray(taken));
      expect(writer.filled).toBeLessThanOrEqual(chunkBytes);
      if (writer.filled < chunkBytes) continue;
      expect(writer.complete(chunk)).toBe(chunkBytes);
      chunks.push(chunk);
      chunk = new Uint8Array(chunkBytes);
    }
  }
  const last = writer.complete(chunk);
  if (last > 0) chunks.push(chunk.subarray(0, last));
  return chunks;
}

test("small writes fill chunks smaller than a digest piece, or not a whole number of them, exactly", () => {
  const data = new Uint8Array(300_000).map((_, index) => (index * 31 + 7) & 0xff);
  for (const chunkBytes of [4096, 96 * 1024]) {
    const digest = new StreamDigest();
    const chunks = fill(data, chunkBytes, 1000, digest);
    expect(chunks.slice(0, -1).every((chunk) => chunk.byteLength === chunkBytes)).toBe(true);
    expect(Buffer.compare(Buffer.concat(chunks), data)).toBe(0);
    // The receiver hashes each chunk (record) whole: both must agree.
    const received = new StreamDigest();
    for (const chunk of chunks) received.update(chunk);
    expect([digest.value, digest.bytes]).toEqual([received.value, data.byteLength]);
  }
});
