/**
 * StreamDigest.copyFromFile's refusals (src/transfer/digest.ts): the native copy from a mapped file
 * leaves a last piece of 240 bytes or less undone and cannot be given a destination of another length,
 * so either is a RangeError before any byte is copied, never a digest missing bytes; without the helper
 * (`copiesFromFiles` false) it is a RangeError too, not a call of an absent function.
 */
import { expect, test } from "bun:test";
import { nativeHash } from "../src/ffi/native.ts";
import { DIGEST_PIECE_BYTES, StreamDigest } from "../src/transfer/digest.ts";
import { testUnless } from "./helpers/tools.ts";

const noCopy = nativeHash()?.copyFromFile
  ? undefined
  : "the native helper is not built (npm run build:native)";

testUnless(noCopy, "a last piece of exactly 240 bytes is refused; 241 is copied and hashed whole", () => {
  const digest = new StreamDigest();
  const short = new Uint8Array(DIGEST_PIECE_BYTES + 240).fill(3);
  expect(() => digest.copyFromFile(new Uint8Array(short.byteLength), short)).toThrow(RangeError);
  expect(digest.bytes).toBe(0);
  const long = new Uint8Array(DIGEST_PIECE_BYTES + 241).fill(3);
  const copy = new Uint8Array(long.byteLength);
  expect(digest.copyFromFile(copy, long)).toBe(true);
  const reference = new StreamDigest({ portable: true });
  reference.update(long);
  expect([digest.bytes, digest.value, copy]).toEqual([long.byteLength, reference.value, long]);
});

testUnless(noCopy, "a destination of another length is refused", () => {
  const digest = new StreamDigest();
  const source = new Uint8Array(DIGEST_PIECE_BYTES).fill(5);
  expect(() => digest.copyFromFile(new Uint8Array(2 * DIGEST_PIECE_BYTES), source)).toThrow(RangeError);
  expect(digest.bytes).toBe(0);
});

test("without the native helper copyFromFile is refused with a RangeError", () => {
  const digest = new StreamDigest({ portable: true });
  const source = new Uint8Array(DIGEST_PIECE_BYTES);
  expect(digest.copiesFromFiles).toBe(false);
  expect(() => digest.copyFromFile(new Uint8Array(DIGEST_PIECE_BYTES), source)).toThrow(RangeError);
});
