/**
 * Edges of src/host/late-ends.ts, in-process on a header page of its own: the first reason is kept, an end
 * recorded at last is no longer said unrecorded at a stop, and an end a guest's scribble pushed out of a
 * full list is said at the stop (a restart would restore its session).
 */
import { afterAll, afterEach, expect, spyOn, test } from "bun:test";
import type { JournalOutage } from "../src/host/journal-outage.ts";
import { LateEnds } from "../src/host/late-ends.ts";
import { unlistUnrecordedEnd, unrecordedEnds } from "../src/host/unrecorded-ends.ts";
import { log } from "../src/log.ts";
import { Header } from "../src/region/layout.ts";

const EPOCH = 11;
/** Entries in the header's list (src/host/unrecorded-ends.ts). */
const LIST_ROOM = 248;

const errors: string[] = [];
const spy = spyOn(log, "error").mockImplementation(
  (...parts: unknown[]) => void errors.push(parts.join(" ")),
);
afterEach(() => {
  errors.length = 0;
});
afterAll(() => spy.mockRestore());

function lateEnds() {
  const header = new Int32Array(Header.probeArea >> 2);
  const host = { endSession() {}, region: { headerWords: () => header }, epoch: EPOCH };
  const outage = { takesChanges: () => false, probeNow() {} } as unknown as JournalOutage;
  return { ends: new LateEnds(outage, host), header };
}

function fillList(ends: LateEnds): void {
  for (let clientId = 1; clientId <= LIST_ROOM; clientId++) ends.notRecorded(clientId, "lease expired");
}

test("a second refusal of the same end keeps the first reason: the session said goodbye, not lost its lease", () => {
  const { ends, header } = lateEnds();
  ends.notRecorded(5, "said goodbye");
  ends.notRecorded(5, "lease expired");
  expect(unrecordedEnds(header, EPOCH)).toEqual([5]);
  expect(ends.recorded(5)).toBe("said goodbye");
  expect(unrecordedEnds(header, EPOCH)).toEqual([]);
});

test("an end that did not fit the list and was recorded at last is not said unrecorded at the stop", () => {
  const { ends } = lateEnds();
  fillList(ends);
  ends.notRecorded(300, "disconnected");
  expect(ends.recorded(300)).toBe("disconnected");
  ends.stopping("/tmp/mut23-state");
  expect(errors).toEqual([]);
});

test("an end pushed out of a full list by a guest's scribble is said at the stop: a restart would restore it", () => {
  const { ends, header } = lateEnds();
  fillList(ends);
  unlistUnrecordedEnd(header, 1); // a guest wipes client 1's entry
  ends.notRecorded(500, "disconnected"); // takes its place
  const repair = ends.restoreListing();
  expect(repair.relisted).toEqual([]);
  expect(unrecordedEnds(header, EPOCH)).not.toContain(1);
  ends.stopping("/tmp/mut23-state");
  expect(errors.length).toBe(1);
  expect(errors[0]).toContain("client #1,");
});
