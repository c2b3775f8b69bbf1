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
});
