/** The sweep's check of what guests can overwrite: it finds and puts back only what was overwritten. */
import { expect, test } from "bun:test";
import { RegionGuard } from "../src/host/region-guard.ts";
import { RegionSlots } from "../src/host/slots.ts";
import { ArbiterState } from "../src/host/state.ts";
import { writeHeader } from "../src/region/header.ts";
import { computeGeometry, SlotWord } from "../src/region/layout.ts";

function setUp(kind: "mutex" | "condvar" = "mutex", slotCount = 8) {
  const geometry = computeGeometry(1 << 20, 4096, slotCount);
  const words = new Int32Array((geometry.slotOffset + geometry.slotCount * 64) / 4);
  const header = { ...geometry, epoch: 3, arbiterPid: 42, arbiterInstance: 99 };
  writeHeader(words, header);
  const slots = new RegionSlots(words, geometry);
  const state = new ArbiterState(geometry, { clientQuotaBlocks: 0, vmQuotaBlocks: 0 }, slots);
  const session = state.openSession("owner", 1, "host");
  const { object } = state.openSync(session, "m", kind, 1);
  return {
    words,
    slots,
    state,
    session,
    slot: object.slot,
    header,
    guard: new RegionGuard(words, slots, () => header),
  };
}

test("an untouched region: no findings, nothing written", () => {
  const { words, guard, state } = setUp();
  const before = words.slice();
  const { findings, releasedSlots } = guard.check(state);
  expect(findings).toEqual([]);
  expect(releasedSlots).toEqual([]);
  expect(words).toEqual(before);
  expect(guard.status).toMatchObject({ checks: 1, repairs: 0 });
});

test("overwritten identity words and a lock naming no client are put back and reported", () => {
  const { words, slots, guard, state, session, slot } = setUp();
  words[slots.index(slot, SlotWord.generation)] = 999;
  words[slots.index(slot + 1, SlotWord.kind)] = 2; // a free slot claiming to be a condvar
  words[slots.index(slot, SlotWord.lock)] = 12345; // no such client
  const { findings, releasedSlots } = guard.check(state);
  expect(findings.join("\n")).toMatch(/generation word was overwritten/);
  expect(findings.join("\n")).toMatch(/a free slot.*kind word/);
  expect(findings.join("\n")).toMatch(/named client 12345, which does not exist/);
  expect(releasedSlots).toEqual([slot]);
  expect(slots.load(slot + 1, SlotWord.kind)).toBe(0);
  expect(guard.status.repairs).toBe(3);
  // A lock held by the live client is not touched.
  words[slots.index(slot, SlotWord.lock)] = session.clientId;
  expect(guard.check(state).findings).toEqual([]);
});

test("a condvar lock naming no client is released and its sequence bumped, so a parked waiter wakes", () => {
  const { words, slots, guard, state, slot } = setUp("condvar");
  words[slots.index(slot, SlotWord.lock)] = 12345; // no such client
  const before = slots.load(slot, SlotWord.sequence);
  expect(guard.check(state).releasedSlots).toEqual([slot]);
  // The waiters park on `sequence`: without the bump one that checked before the release sleeps on.
  expect(slots.load(slot, SlotWord.sequence)).toBe(before + 1);
  expect(guard.check(state).releasedSlots).toEqual([]);
  expect(slots.load(slot, SlotWord.sequence)).toBe(before + 1);
});

test("a slot table filled with garbage: one finding for all the free slots, not one line each", () => {
  const { words, slots, guard, state, slot } = setUp();
  const first = slots.index(0, 0);
  words.fill(-1, first, first + state.geometry.slotCount * 16);
  const { findings } = guard.check(state);
  // The mutex's slot is named on its own (its identity words and its lock); the 7 free ones together.
  expect(findings.filter((what) => what.includes("free slot"))).toEqual([
    "7 free slots (slot 1, 2, 3, 4, 5, 6, 7): their kind and generation words were overwritten: restored",
  ]);
  expect(findings.some((what) => what.startsWith(`slot ${slot} (mutex 'm')`))).toBe(true);
  for (let free = 1; free < state.geometry.slotCount; free++) expect(slots.load(free, SlotWord.kind)).toBe(0);
});

test("free slots past the first 8 are counted, and exactly 8 are listed without a count", () => {
  for (const [garbled, listing] of [
    [8, "8 free slots (slot 1, 2, 3, 4, 5, 6, 7, 8): "],
    [9, "9 free slots (slot 1, 2, 3, 4, 5, 6, 7, 8 and 1 more): "],
  ] as const) {
    const { words, slots, guard, state } = setUp("mutex", 16);
    for (let free = 1; free <= garbled; free++) words[slots.index(free, SlotWord.kind)] = 2;
    const found = guard.check(state).findings.filter((what) => what.includes("free slot"));
    expect(found).toEqual([`${listing}their kind words were overwritten: restored`]);
  }
});

test("each header field put back, and each session end relisted or cleared, counts as a repair", () => {
  const { guard, state, header } = setUp();
  header.epoch = 4; // the region now differs from what the arbiter wrote in one field
  header.arbiterPid = 43; // and a second
  const lateEnds = { restoreListing: () => ({ forged: [5, 6], garbage: 3, relisted: [7] }) };
  const { findings } = guard.check(state, lateEnds);
  expect(findings.join("\n")).toMatch(/the region header was overwritten \(.*\): rewrote it/);
  expect(findings.join("\n")).toMatch(/had lost client #7/);
  expect(guard.status.repairs).toBe(2 + 2 + 3 + 1);
});

test("status keeps the 20 most recent findings", () => {
  const { guard, state } = setUp();
  let round = 0;
  const lateEnds = { restoreListing: () => ({ forged: [], garbage: 0, relisted: [++round] }) };
  for (let check = 0; check < 25; check++) guard.check(state, lateEnds);
  const kept = guard.status.findings.map(({ what }) => what);
  expect(kept).toHaveLength(20);
  expect(kept[0]).toMatch(/lost client #6 /);
  expect(kept[19]).toMatch(/lost client #25 /);
});
