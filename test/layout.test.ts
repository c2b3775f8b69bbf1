import { describe, expect, test } from "bun:test";
import { invalidateHeader, readHeader, writeHeader } from "../src/region/header.ts";
import { computeGeometry, Header, LAYOUT_VERSION, PAGE_SIZE } from "../src/region/layout.ts";
import { expectFailure } from "./helpers/errors.ts";

describe("region layout", () => {
  test("header, slots and page-aligned blocks", () => {
    const geometry = computeGeometry(16 << 20, 65536, 1024);
    expect(geometry.slotOffset).toBe(PAGE_SIZE);
    expect(geometry.dataOffset).toBe(PAGE_SIZE + 1024 * 64);
    expect(geometry.dataOffset % PAGE_SIZE).toBe(0);
    expect(geometry.blockCount).toBe(Math.floor(((16 << 20) - geometry.dataOffset) / 65536));
  });

  const invalid: [number, number, number, RegExp][] = [
    [1000, 4096, 1, /multiple of 4096/],
    [1 << 20, 1000, 1, /block size 1000/],
    [1 << 20, 4096, 0, /slot count 0/],
    [8192, 4096, 64, /no room for one 4096-byte block/],
  ];
  for (const [size, block, slots, message] of invalid)
    test(`refuses size ${size}, block ${block}, slots ${slots}`, () => {
      expectFailure(() => computeGeometry(size, block, slots), "InvalidArgument", message);
    });

  test("a written header reads back; a half-written or foreign one is refused", () => {
    const words = new Int32Array(PAGE_SIZE / 4);
    const geometry = computeGeometry(1 << 20, 4096, 16);
    writeHeader(words, { ...geometry, epoch: 7, arbiterPid: 42, arbiterInstance: 2 ** 48 - 2 });
    expect(readHeader(words, 1 << 20, "test")).toEqual({
      ...geometry,
      epoch: 7,
      arbiterPid: 42,
      arbiterInstance: 2 ** 48 - 2,
    });
    expectFailure(() => readHeader(words, 1 << 19, "test"), "RegionInvalid", /only 524288 are mapped/);
    invalidateHeader(words);
    expectFailure(() => readHeader(words, 1 << 20, "test"), "RegionInvalid", /half written/);
    words[Header.layoutVersion >> 2] = LAYOUT_VERSION + 1;
    expectFailure(
      () => readHeader(words, 1 << 20, "test"),
      "RegionInvalid",
      new RegExp(`layout version is ${LAYOUT_VERSION + 1}`),
    );
    words[Header.magic >> 2] = 0;
    expectFailure(() => readHeader(words, 1 << 20, "test"), "RegionInvalid", /holds no ivsh header/);
  });

  // The header's blockCount is a u32 and the arbiter's free list links blocks by Int32Array index: a region
  // of 16 TiB in 4 KiB blocks (2^32 + 254 blocks) was laid out, and its header, written modulo 2^32, was
  // refused by every client as "contradicting itself"; at 8 TiB (2^31 + 254) the links overflowed.
  test("a region of more blocks than a block index can count is refused, naming a block size that fits", () => {
    for (const [size, fits] of [
      [2 ** 44 + (1 << 20), "16KiB"],
      [2 ** 43 + (1 << 20), "8KiB"],
    ] as const)
      expectFailure(
        () => computeGeometry(size, 4096, 16),
        "InvalidArgument",
        new RegExp(`more than 2147483647 blocks.*--block-size ${fits}`),
      );
    const largest = computeGeometry(2 ** 43, 4096, 16);
    expect(largest.blockCount).toBeLessThanOrEqual(2 ** 31 - 1);
    const words = new Int32Array(PAGE_SIZE / 4);
    writeHeader(words, { ...largest, epoch: 1, arbiterPid: 1, arbiterInstance: 1 });
    expect(readHeader(words, largest.regionSize, "test").blockCount).toBe(largest.blockCount);
    // Any size, however large, is some region's: the largest block size lays it out.
    expect(computeGeometry(2 ** 52, 2 ** 31, 16).blockCount).toBe(2 ** 21 - 1);
  });
});
