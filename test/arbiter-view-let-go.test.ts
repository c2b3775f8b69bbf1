/**
 * A channel end asks the arbiter's view (is our session, or the peer's, still there?) for at most
 * ARBITER_VIEW_WAIT_MS, then tells what it saw itself (src/transfer/slot.ts sessionLost, peer.ts
 * liveAmong). A question it stopped waiting for must keep no process alive (Transport.request's letGo):
 * unanswered by a stopped arbiter, it kept a library script that caught the end's error, and forgot
 * close(), alive (test/transfer-end-quitter.test.ts holds that with real processes). The client here is
 * a stand-in whose requests are never answered, and records what each was given to let go by.
 */
import { expect, test } from "bun:test";
import { SLOT_WORDS } from "../src/region/layout.ts";
import type { ChannelClient } from "../src/transfer/channel-client.ts";
import { Peer } from "../src/transfer/peer.ts";
import { ChannelSlot } from "../src/transfer/slot.ts";

/** A client whose status and lease confirmation are never answered; `letGo` holds what each was given. */
function silentClient() {
  const letGo: (AbortSignal | undefined)[] = [];
  const never = (signal?: AbortSignal) => {
    letGo.push(signal);
    return new Promise<never>(() => {});
  };
  const client = {
    clientId: 3,
    geometry: { regionSize: 0, blockSize: 0, blockCount: 0, slotCount: 1, slotOffset: 0, dataOffset: 0 },
    words: new Int32Array(SLOT_WORDS),
    lost: undefined,
    isClosed: false,
    leaseInDoubt: () => false,
    status: (_limit?: number, _only?: number, signal?: AbortSignal) => never(signal),
    confirmLease: () => never(),
    confirmLeaseLettingGo: (signal?: AbortSignal) => never(signal),
  } as unknown as ChannelClient;
  return { client, letGo };
}

test("a lease confirmation the end stopped waiting for is let go of", async () => {
  const { client, letGo } = silentClient();
  const slot = new ChannelSlot(client, 0, "view");
  expect(await slot.sessionLost()).toBeUndefined(); // unanswered: tells nothing
  // Before: [undefined]: the confirmation was asked with nothing to let it go by.
  expect(letGo.map((signal) => signal?.aborted)).toEqual([true]);
}, 20_000);

test("a peer's presence the end stopped asking about is let go of", async () => {
  const { client, letGo } = silentClient();
  const slot = new ChannelSlot(client, 0, "view");
  const peer = Peer.attached(slot, "sender", "view", 7);
  slot.store("sender", 9); // another client holds the peer's end: the arbiter is asked about both
  const departure = peer.departure();
  expect(departure).toEqual({ owner: 9, died: false });
  expect((await peer.goneError(departure!)).code).toBe("PeerGone");
  // Before: [undefined, undefined].
  expect(letGo.map((signal) => signal?.aborted)).toEqual([true, true]);
}, 20_000);
