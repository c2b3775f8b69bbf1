/**
 * The list of unrecorded session ends in the region's header (src/host/unrecorded-ends.ts), on a header
 * page of its own: an entry counts only with its check word (another epoch's, or a guest's scribble, is
 * none); an id is listed once however often it is listed; a copy of a listed entry is cleared on repair.
 */
import { expect, test } from "bun:test";
import { listUnrecordedEnd, restoreUnrecordedEnds, unrecordedEnds } from "../src/host/unrecorded-ends.ts";
import { Header } from "../src/region/layout.ts";

const EPOCH = 4;
const FIRST_WORD = Header.unrecordedEnds >> 2;
const page = () => new Int32Array(Header.probeArea >> 2);

test("an entry without its check word is none: a scribbled id, or one another epoch's arbiter wrote", () => {
  const header = page();
  header[FIRST_WORD] = 17; // an id, with a check of 0
  expect(unrecordedEnds(header, EPOCH)).toEqual([]);
  const other = page();
  expect(listUnrecordedEnd(other, EPOCH + 1, 18)).toBe(true);
  expect(unrecordedEnds(other, EPOCH + 1)).toEqual([18]);
  expect(unrecordedEnds(other, EPOCH)).toEqual([]);
});

test("an id listed twice takes one entry", () => {
  const header = page();
  expect(listUnrecordedEnd(header, EPOCH, 21)).toBe(true);
  expect(listUnrecordedEnd(header, EPOCH, 21)).toBe(true);
  expect(unrecordedEnds(header, EPOCH)).toEqual([21]);
});

test("a copy of a listed entry (a guest copied its two words) is cleared as forged; the original stays", () => {
  const header = page();
  listUnrecordedEnd(header, EPOCH, 30);
  header[FIRST_WORD + 10] = header[FIRST_WORD]!;
  header[FIRST_WORD + 11] = header[FIRST_WORD + 1]!;
  expect(unrecordedEnds(header, EPOCH)).toEqual([30, 30]);
  const repair = restoreUnrecordedEnds(header, EPOCH, [30]);
  expect(repair).toEqual({ forged: [30], garbage: 0, relisted: [], stillUnlisted: [] });
  expect(unrecordedEnds(header, EPOCH)).toEqual([30]);
});
