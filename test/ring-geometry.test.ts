/**
 * A channel ring's shape at its bounds (src/transfer/ring.ts): chunks are whole pages up to 2 GiB, and a
 * ring holds 2 to 4096 of them. Each bound is taken itself, and the next value past it refused in the
 * words the message promises.
 */
import { expect, test } from "bun:test";
import { chunkSizeProblem, MAX_RING_DEPTH, ringDepthProblem } from "../src/transfer/ring.ts";

const GIB = 2 ** 30;

test("a chunk of exactly 2 GiB is taken; one page more is refused as past 2 GiB", () => {
  expect(chunkSizeProblem(4096)).toBeUndefined();
  expect(chunkSizeProblem(2 * GIB)).toBeUndefined();
  for (const past of [2 * GIB + 4096, 4 * GIB])
    expect(chunkSizeProblem(past)).toBe(`the chunk size ${past} is not a multiple of 4 KiB up to 2 GiB`);
});

test("a ring of 2 and of 4096 chunks is taken; 1 and 4097 are refused", () => {
  expect(ringDepthProblem(2)).toBeUndefined();
  expect(ringDepthProblem(MAX_RING_DEPTH)).toBeUndefined();
  for (const depth of [1, MAX_RING_DEPTH + 1])
    expect(ringDepthProblem(depth)).toBe(`the ring depth ${depth} is outside 2..4096`);
});
