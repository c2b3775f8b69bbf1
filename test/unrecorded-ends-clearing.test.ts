/**
 * Taking entries off the header's list of unrecorded session ends (src/host/unrecorded-ends.ts), on a
 * header page of its own: an id taken off leaves both its words zero (a check word left behind is garbage
 * the guard then reports as an overwrite); emptying the list empties every entry, the last one too; and a
 * half entry a guest wrote (an id without its check, a check without its id) is cleared as garbage.
 */
import { expect, test } from "bun:test";
import {
  clearUnrecordedEnds,
  listUnrecordedEnd,
  restoreUnrecordedEnds,
  UNRECORDED_ENDS_MAX,
  unlistUnrecordedEnd,
  unrecordedEnds,
} from "../src/host/unrecorded-ends.ts";
import { Header, PAGE_SIZE } from "../src/region/layout.ts";

const EPOCH = 9;
const FIRST_WORD = Header.unrecordedEnds >> 2;
const page = () => new Int32Array(Header.probeArea >> 2);
const listWords = (header: Int32Array) => [
  ...header.subarray(FIRST_WORD, FIRST_WORD + 2 * UNRECORDED_ENDS_MAX),
];

test("an id taken off the list leaves its entry all zeros: the guard finds nothing to repair", () => {
  const header = page();
  listUnrecordedEnd(header, EPOCH, 40);
  listUnrecordedEnd(header, EPOCH, 41);
  unlistUnrecordedEnd(header, 40);
  expect(unrecordedEnds(header, EPOCH)).toEqual([41]);
  unlistUnrecordedEnd(header, 41);
  expect(listWords(header).every((word) => word === 0)).toBe(true);
  expect(restoreUnrecordedEnds(header, EPOCH, [])).toEqual({
    forged: [],
    garbage: 0,
    relisted: [],
    stillUnlisted: [],
  });
});

test("emptying a full list clears every entry, the last one too, and nothing past it", () => {
  const header = new Int32Array(PAGE_SIZE >> 2); // the whole header page, the probe area in it
  header.fill(-1);
  header.fill(0, FIRST_WORD, FIRST_WORD + 2 * UNRECORDED_ENDS_MAX);
  for (let clientId = 1; clientId <= UNRECORDED_ENDS_MAX; clientId++)
    expect(listUnrecordedEnd(header, EPOCH, clientId)).toBe(true);
  expect(listUnrecordedEnd(header, EPOCH, UNRECORDED_ENDS_MAX + 1)).toBe(false);
  clearUnrecordedEnds(header);
  expect(unrecordedEnds(header, EPOCH)).toEqual([]);
  expect(listWords(header).every((word) => word === 0)).toBe(true);
  // The probe area after the list is anyone's scratch space: left as it was.
  expect(header[FIRST_WORD + 2 * UNRECORDED_ENDS_MAX]).toBe(-1);
  expect(header[FIRST_WORD - 1]).toBe(-1);
});

test("half an entry (an id without its check word, or a check word alone) is cleared as garbage, not as a client", () => {
  const header = page();
  header[FIRST_WORD + 4] = 17; // an id, check 0
  header[FIRST_WORD + 7] = 12_345; // a check, id 0
  expect(restoreUnrecordedEnds(header, EPOCH, [])).toEqual({
    forged: [],
    garbage: 2,
    relisted: [],
    stillUnlisted: [],
  });
  expect(listWords(header).every((word) => word === 0)).toBe(true);
});
