/**
 * ChunkWriter's `fromFile` takes (src/transfer/chunk-writer.ts) on their own: a take that starts part way
 * into a chunk fills only the room left after what is there, and bytes staged from small writes cannot be
 * followed by a mapped file's bytes (the native copy would put them before the staged ones). The send
 * path (src/transfer/mapped-file.ts) only ever starts such takes at a chunk's start; these pin the rule
 * for any caller.
 */
import { expect } from "bun:test";
import { nativeHash } from "../src/ffi/native.ts";
import { ChunkWriter } from "../src/transfer/chunk-writer.ts";
import { DIGEST_PIECE_BYTES, StreamDigest } from "../src/transfer/digest.ts";
import { testUnless } from "./helpers/tools.ts";

const noCopy = nativeHash()?.copyFromFile
  ? undefined
  : "the native helper is not built (npm run build:native)";
const PIECE = DIGEST_PIECE_BYTES;

testUnless(
  noCopy,
  "a take from a file part way into a chunk fills the room after what it holds, no more",
  () => {
    const digest = new StreamDigest();
    const writer = new ChunkWriter(digest);
    const chunk = new Uint8Array(4 * PIECE);
    const first = new Uint8Array(PIECE).fill(1);
    const second = new Uint8Array(4 * PIECE).fill(2);
    expect(writer.take(chunk, first, true)).toBe(PIECE);
    expect(writer.take(chunk, second, true)).toBe(3 * PIECE);
    expect(writer.complete(chunk)).toBe(4 * PIECE);
    const expected = new Uint8Array(4 * PIECE).fill(2);
    expected.fill(1, 0, PIECE);
    expect(Buffer.compare(chunk, expected)).toBe(0);
    const reference = new StreamDigest({ portable: true });
    reference.update(expected);
    expect([digest.bytes, digest.value]).toEqual([4 * PIECE, reference.value]);
  },
);

testUnless(noCopy, "a file's bytes after staged ones are refused, before anything is copied", () => {
  const writer = new ChunkWriter(new StreamDigest());
  const chunk = new Uint8Array(4 * PIECE);
  expect(writer.take(chunk, new Uint8Array(100).fill(1))).toBe(100);
  expect(() => writer.take(chunk, new Uint8Array(PIECE).fill(2), true)).toThrow(RangeError);
  expect(chunk.every((byte) => byte === 0)).toBe(true);
});
