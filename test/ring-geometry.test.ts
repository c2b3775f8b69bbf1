/**
 * A channel ring's shape at its bounds (src/transfer/ring.ts): chunks are whole pages up to 2 GiB, and a
 * ring holds 2 to 4096 of them. Each bound is taken itself, and the next value past it refused in the
 * words the message promises.
 */
import { expect, test } from "bun:test";
import {
  chunkSizeProblem,
  MAX_RING_DEPTH,
  recordsInFlight,
  ringDepthProblem,
  ringGeometryProblem,
} from "../src/transfer/ring.ts";

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

test("a chunk of whole pages only: one byte or half a page past a page is refused", () => {
  for (const ragged of [4096 + 1, 4096 + 2048, 3 * 4096 + 512])
    expect(chunkSizeProblem(ragged)).toBe(`the chunk size ${ragged} is not a multiple of 4 KiB up to 2 GiB`);
});

test("a depth that is not a whole number is refused, even between the bounds", () => {
  for (const depth of [2.5, Number.NaN])
    expect(ringDepthProblem(depth)).toBe(`the ring depth ${depth} is outside 2..4096`);
});

test("a ring whose chunk size and depth are both wrong is told by its chunk size; either alone is named", () => {
  expect(ringGeometryProblem(4096 + 1, 1)).toBe("the chunk size 4097 is not a multiple of 4 KiB up to 2 GiB");
  expect(ringGeometryProblem(4096, 1)).toBe("the ring depth 1 is outside 2..4096");
  expect(ringGeometryProblem(4096, 2)).toBeUndefined();
});

test("no chunk at all, or a negative one, is refused: only whole pages from one page on", () => {
  for (const none of [0, -4096])
    expect(chunkSizeProblem(none)).toBe(`the chunk size ${none} is not a multiple of 4 KiB up to 2 GiB`);
});

test("counters past 2^31 (negative in their Int32 words) are told as the u32s they are", () => {
  expect(() => recordsInFlight(-1, 5, 4, "c")).toThrow(
    "(head 4294967295, tail 5): the region was overwritten",
  );
});
