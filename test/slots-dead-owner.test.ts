/**
 * The arbiter's release of a dead client's lock words (src/host/slots.ts): every word of the slot it held,
 * a channel's sender and receiver both when one client took both ends (one connect() sending to itself).
 */
import { expect, test } from "bun:test";
import { RegionSlots } from "../src/host/slots.ts";
import { ChannelWord, computeGeometry, LOCK_OWNER_DIED, LOCK_WAITERS } from "../src/region/layout.ts";

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
