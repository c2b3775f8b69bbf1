/**
 * The arbiter's release of a dead client's lock words (src/host/slots.ts): every word of the slot it held,
 * a channel's sender and receiver both when one client took both ends (one connect() sending to itself).
 */
import { expect, test } from "bun:test";
import { RegionSlots } from "../src/host/slots.ts";
import {
  ChannelWord,
  computeGeometry,
  LOCK_OWNER_DIED,
  LOCK_WAITERS,
  SLOT_WORDS,
  SlotWord,
} from "../src/region/layout.ts";

test("a client dead holding both ends of a channel loses both: each word says owner-died", () => {
  const geometry = computeGeometry(1 << 20, 4096, 8);
  const words = new Int32Array((geometry.slotOffset + geometry.slotCount * 64) / 4);
  const slots = new RegionSlots(words, geometry);
  slots.initialise(3, "channel", 1);
  const dead = 7;
  words[slots.index(3, ChannelWord.sender)] = dead;
  words[slots.index(3, ChannelWord.receiver)] = dead | LOCK_WAITERS;
  expect(slots.releaseDeadOwner(3, "channel", dead)).toBe(true);
  expect(slots.load(3, ChannelWord.sender)).toBe(LOCK_OWNER_DIED);
  expect(slots.load(3, ChannelWord.receiver)).toBe(LOCK_OWNER_DIED | LOCK_WAITERS);
});

function regionSlots() {
  const geometry = computeGeometry(1 << 20, 4096, 8);
  const words = new Int32Array((geometry.slotOffset + geometry.slotCount * 64) / 4);
  return { words, slots: new RegionSlots(words, geometry) };
}

// A waiter that read the sequence before the release and parks after it waits for a notify: the bump is it.
test("a condvar's dead holder released: its sequence is bumped once, as a notify would", () => {
  const { words, slots } = regionSlots();
  slots.initialise(2, "condvar", 1);
  const dead = 9;
  words[slots.index(2, SlotWord.lock)] = dead;
  expect(slots.releaseDeadOwner(2, "condvar", dead)).toBe(true);
  expect(slots.load(2, SlotWord.sequence)).toBe(1);
  expect(slots.releaseDeadOwner(2, "condvar", dead)).toBe(false); // released already: no second bump
  expect(slots.load(2, SlotWord.sequence)).toBe(1);
});

// The sweep expects a free slot to hold no kind and no generation (region-guard.ts): a word left over
// would be reported as overwritten, and "restored", at the next sweep.
test("a slot cleared holds zero in every word: the guard finds a freed slot untouched", () => {
  const { words, slots } = regionSlots();
  slots.initialise(4, "channel", 77);
  for (let word = 0; word < SLOT_WORDS; word++) words[slots.index(4, word)] ||= 5;
  slots.clear(4);
  for (let word = 0; word < SLOT_WORDS; word++) expect(slots.load(4, word)).toBe(0);
  expect(slots.restoreIdentity(4, undefined, 0)).toEqual([]);
});
