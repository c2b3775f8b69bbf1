/**
 * Giving up a channel role (ChannelSlot.release, src/transfer/slot.ts), on slot words of its own: the lock
 * word is cleared only while it still names this client. A client whose role passed to another (its
 * session was given up while it was away, and a new sender took the channel) must not clear the new
 * holder's word with its late release.
 */
import { expect, test } from "bun:test";
import { ChannelWord, SLOT_WORDS } from "../src/region/layout.ts";
import type { ChannelClient } from "../src/transfer/channel-client.ts";
import { ChannelSlot } from "../src/transfer/slot.ts";

const SLOT = 2;

function slotOf(clientId: number) {
  const words = new Int32Array(8 * SLOT_WORDS);
  const client = {
    clientId,
    words,
    isClosed: false,
    geometry: { slotOffset: 0 },
  } as unknown as ChannelClient;
  return {
    slot: new ChannelSlot(client, SLOT, "released"),
    words,
    at: SLOT * SLOT_WORDS + ChannelWord.sender,
  };
}

test("a role this client holds is released", () => {
  const { slot, words, at } = slotOf(5);
  words[at] = 5;
  slot.release("sender");
  expect(words[at]).toBe(0);
});

test("a role another client holds now is left to it", () => {
  const { slot, words, at } = slotOf(5);
  words[at] = 9;
  slot.release("sender");
  expect(words[at]).toBe(9);
});
