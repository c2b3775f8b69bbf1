/**
 * The header's cross-checks: a guest may scribble over any header word (IVSHMEM gives no isolation), and a
 * client that read a contradicting header would lay out blocks and slots at offsets the arbiter never used.
 * Each field the geometry derives from the others is checked on read, not just the magic and version.
 */
import { expect, test } from "bun:test";
import { readHeader, writeHeader } from "../src/region/header.ts";
import { computeGeometry, Header, MAX_SLOT_COUNT, PAGE_SIZE } from "../src/region/layout.ts";
import { expectFailure } from "./helpers/errors.ts";

const REGION_BYTES = 1 << 20;

/** A header page written for a 1 MiB region of 4 KiB blocks and 16 slots. */
function writtenHeader(): { words: Int32Array; view: DataView } {
  const words = new Int32Array(PAGE_SIZE / 4);
  const geometry = computeGeometry(REGION_BYTES, 4096, 16);
  writeHeader(words, { ...geometry, epoch: 1, arbiterPid: 42, arbiterInstance: 7 });
  return { words, view: new DataView(words.buffer) };
}

test("a header whose block count contradicts its size and block size is refused as corrupted", () => {
  const { words, view } = writtenHeader();
  view.setUint32(Header.blockCount, view.getUint32(Header.blockCount, true) + 1, true);
  expectFailure(() => readHeader(words, REGION_BYTES, "test"), "RegionInvalid", /contradict each other/);
});

test("a header whose header-size word is not one page is refused as corrupted", () => {
  const { words, view } = writtenHeader();
  view.setUint32(Header.headerBytes, 2 * PAGE_SIZE, true);
  expectFailure(() => readHeader(words, REGION_BYTES, "test"), "RegionInvalid", /contradict each other/);
});

test("a header whose data offset disagrees with its slot count is refused as corrupted", () => {
  const { words, view } = writtenHeader();
  view.setUint32(Header.dataOffset, view.getUint32(Header.dataOffset, true) + PAGE_SIZE, true);
  expectFailure(() => readHeader(words, REGION_BYTES, "test"), "RegionInvalid", /contradict each other/);
});

test("a region of more slots than the layout allows is refused; the most it allows is laid out", () => {
  expectFailure(
    () => computeGeometry(1 << 30, 4096, MAX_SLOT_COUNT + 1),
    "InvalidArgument",
    new RegExp(`slot count ${MAX_SLOT_COUNT + 1} is outside 1\\.\\.${MAX_SLOT_COUNT}`),
  );
  expect(computeGeometry(1 << 30, 4096, MAX_SLOT_COUNT).slotCount).toBe(MAX_SLOT_COUNT);
});

test("rewriting a live header: a reader that looks while the fields are written finds it half written", () => {
  const { words } = writtenHeader();
  const geometry = computeGeometry(REGION_BYTES, 4096, 16);
  let midway: unknown;
  const fields = {
    ...geometry,
    epoch: 2,
    arbiterPid: 42,
    arbiterInstance: 7,
    // Read by writeHeader between its first and last store: a reader in another process could look then.
    get dataOffset() {
      try {
        midway = readHeader(words, REGION_BYTES, "test");
      } catch (error) {
        midway = error;
      }
      return geometry.dataOffset;
    },
  };
  writeHeader(words, fields);
  expect(String((midway as Error).message)).toMatch(/half written/);
  expect(readHeader(words, REGION_BYTES, "test").epoch).toBe(2);
});
