/**
 * How a channel end judges its peer gone (src/transfer/peer.ts), each word and each answer of the arbiter
 * scripted: the peer's id is kept once seen, a lock word's new holder that left meanwhile is no overwrite,
 * and a peer that left because our own lease is in doubt is told as our session's loss.
 */
import { expect, test } from "bun:test";
import { failure, isIvshError } from "../src/errors.ts";
import { ChannelState } from "../src/region/layout.ts";
import { Peer } from "../src/transfer/peer.ts";
import type { ChannelSlot } from "../src/transfer/slot.ts";

interface Holder {
  owner: number;
  died: boolean;
}

/** A slot whose lock word answers successive reads from `holders` (the last repeats). */
function scriptedSlot(options: {
  holders: Holder[];
  alive?: number[];
  leaseInDoubt?: boolean;
  sessionLost?: () => Promise<unknown>;
  /** The channel's state word (streaming unless given). */
  state?: number;
}) {
  let reads = 0;
  const slot = {
    holder: () => options.holders[Math.min(reads++, options.holders.length - 1)]!,
    load: (word: string) => (word === "state" ? (options.state ?? ChannelState.streaming) : 0),
    sessionLost: options.sessionLost ?? (async () => undefined),
    client: {
      lost: undefined,
      leaseInDoubt: () => options.leaseInDoubt ?? false,
      status: async (_limit: number, id: number) => ({
        clients: (options.alive ?? []).includes(id) ? [{ clientId: id, vm: "host" }] : [],
        requester: { vm: "host" },
      }),
    },
  };
  return slot as unknown as ChannelSlot;
}

test("a peer once seen is watched by that id: its id word cleared later does not hide that it left", () => {
  const ids = [7];
  const slot = scriptedSlot({
    holders: [
      { owner: 7, died: false },
      { owner: 0, died: false },
    ],
  });
  const peer = new Peer(slot, "receiver", "kept-id", () => ids.shift() ?? 0);
  expect(peer.departure()).toBeUndefined();
  expect(peer.departure()).toEqual({ owner: 0, died: false });
});

test("a lock word naming an unknown client that has let go since: PeerGone, not an overwrite", async () => {
  // Client 9 took the end after our peer (5) left, and left too before the arbiter answered about it.
  const slot = scriptedSlot({ holders: [{ owner: 0, died: false }], alive: [5] });
  const peer = Peer.attached(slot, "receiver", "new-holder-left", 5);
  const error = await peer.goneError({ owner: 9, died: false });
  expect(isIvshError(error) ? error.code : error).toBe("PeerGone");
  expect(error.message).toMatch(/client 9 holds that end now/);
});

test("a peer that marked the transfer given up, its end taken by another since: it gave up, not 'went away'", async () => {
  // The receiver (5) dropped the transfer and let go; client 9 took the end before the sender looked.
  const slot = scriptedSlot({
    holders: [{ owner: 9, died: false }],
    alive: [9],
    state: ChannelState.dropped,
  });
  const peer = Peer.attached(slot, "receiver", "taken-after-drop", 5);
  const error = await peer.goneError({ owner: 9, died: false });
  expect(error.message).toContain(
    "the receiver (client 5) gave up before the end (it was interrupted, closed its end early, or failed: its own error says why; client 9 holds that end now)",
  );
});

test("a peer seen gone while our own lease is in doubt: our session's loss is the error, not PeerGone", async () => {
  const expired = failure("LeaseExpired", "keep the session", "its lease expired");
  const slot = scriptedSlot({
    holders: [{ owner: 0, died: true }],
    leaseInDoubt: true,
    sessionLost: async () => expired,
  });
  const peer = Peer.attached(slot, "sender", "frozen", 5);
  expect(await peer.goneError({ owner: 0, died: true })).toBe(expired);
});
