/**
 * The header page's own rules (src/region/header.ts), on fixed inputs: a reader refuses a header that
 * describes more region than it mapped; every field writeHeader takes is stored while the version word says
 * "half written"; the epoch reads as the unsigned word it is; and the arbiter's guard (headerDifferences)
 * names every overwritten word, the version and the 64-bit instance included.
 */
import { expect, test } from "bun:test";
import { headerDifferences, readEpoch, readHeader, writeHeader } from "../src/region/header.ts";
import { computeGeometry, Header, type HeaderFields, PAGE_SIZE } from "../src/region/layout.ts";
import { expectFailure } from "./helpers/errors.ts";

const REGION_BYTES = 1 << 20;
const geometry = computeGeometry(REGION_BYTES, 4096, 16);
const fields: HeaderFields = { ...geometry, epoch: 5, arbiterPid: 42, arbiterInstance: 0x1_0000_0007 };

function written(values: HeaderFields = fields): { words: Int32Array; view: DataView } {
  const words = new Int32Array(PAGE_SIZE / 4);
  writeHeader(words, values);
  return { words, view: new DataView(words.buffer) };
}

// A guest whose BAR (or a host whose file) is a page short of what the header says would read and write
// past its mapping.
test("a header that says more bytes than are mapped is refused, even by one page; exactly mapped is read", () => {
  const { words } = written();
  expectFailure(
    () => readHeader(words, REGION_BYTES - PAGE_SIZE, "test"),
    "RegionInvalid",
    new RegExp(`says ${REGION_BYTES} bytes but only ${REGION_BYTES - PAGE_SIZE} are mapped`),
  );
  expect(readHeader(words, REGION_BYTES, "test").regionSize).toBe(REGION_BYTES);
});

// A field stored after the version word could be read by another process as part of a complete header,
// with its old value.
test("writeHeader reads every field it stores while the header is still half written", () => {
  const { words } = written();
  const seen: string[] = [];
  const watched = {} as HeaderFields;
  for (const [name, value] of Object.entries(fields))
    Object.defineProperty(watched, name, {
      enumerable: true,
      get() {
        try {
          readHeader(words, REGION_BYTES, "test");
          seen.push(`${name}: complete`);
        } catch (error) {
          seen.push(`${name}: ${/half written/.test((error as Error).message) ? "half written" : "other"}`);
        }
        return value;
      },
    });
  writeHeader(words, watched);
  expect(seen.length).toBeGreaterThanOrEqual(Object.keys(fields).length);
  expect(seen.filter((entry) => !entry.endsWith("half written"))).toEqual([]);
  expect(readHeader(words, REGION_BYTES, "test")).toEqual(fields);
});

// The restart takes the larger of the state's and the header's epoch: a signed read of an epoch past 2^31
// would lose to the state's and hand out an epoch already used.
test("an epoch past 2^31 reads back unsigned", () => {
  const { words } = written({ ...fields, epoch: 0x8000_0001 });
  expect(readEpoch(words)).toBe(0x8000_0001);
  expect(readHeader(words, REGION_BYTES, "test").epoch).toBe(0x8000_0001);
});

test("an intact header differs in nothing; each overwritten word is named, the version and the instance too", () => {
  expect(headerDifferences(written().words, fields)).toEqual([]);
  const words32: [keyof typeof Header, string][] = [
    ["magic", "magic"],
    ["layoutVersion", "layoutVersion"],
    ["headerBytes", "headerBytes"],
    ["blockSize", "blockSize"],
    ["blockCount", "blockCount"],
    ["slotCount", "slotCount"],
    ["slotOffset", "slotOffset"],
    ["dataOffset", "dataOffset"],
    ["epoch", "epoch"],
    ["arbiterPid", "arbiterPid"],
  ];
  for (const [offset, name] of words32) {
    const { words, view } = written();
    view.setUint32(Header[offset], view.getUint32(Header[offset], true) ^ 1, true);
    expect(headerDifferences(words, fields)).toEqual([name]);
  }
  for (const name of ["regionSize", "arbiterInstance"] as const) {
    const { words, view } = written();
    // The high half: a check of the low 32 bits alone would miss it.
    view.setUint32(Header[name] + 4, view.getUint32(Header[name] + 4, true) ^ 1, true);
    expect(headerDifferences(words, fields)).toEqual([name]);
  }
});
