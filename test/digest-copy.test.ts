/**
 * StreamDigest.copyAndUpdate takes a destination of exactly the source's length: the native helper copies
 * by the source's length into the destination's address, so a shorter view would be written past its end.
 * A longer one is refused too (the caller's arithmetic is off), on both paths, before anything is copied.
 */
import { expect, test } from "bun:test";
import { StreamDigest } from "../src/transfer/digest.ts";

test("copyAndUpdate refuses a destination of another length than the source, copying and hashing nothing", () => {
  for (const portable of [false, true]) {
    const digest = new StreamDigest({ portable });
    const source = new Uint8Array(300).fill(7); // over 240 bytes: the native helper's path when it loads
    const destination = new Uint8Array(400);
    expect(() => digest.copyAndUpdate(destination, source)).toThrow(
      /copyAndUpdate: 300 bytes into a 400-byte view/,
    );
    expect(destination.every((byte) => byte === 0)).toBe(true);
    expect([digest.bytes, digest.value]).toEqual([0, 0n]);
  }
});
