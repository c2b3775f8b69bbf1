/**
 * Peer.inOtherVm (src/transfer/peer.ts) asks the arbiter's status, unawaited, where the peer's session
 * comes from, so a wait for a peer in another VM naps rather than parks. An arbiter from before status
 * named its requester (same protocol version, 3) answers without `requester`: the answer must leave the
 * wait parking as before, not throw from the unawaited callback (an unhandled rejection ends a process).
 */
import { afterEach, expect, test } from "bun:test";
import type { ChannelClient } from "../src/transfer/channel-client.ts";
import { Peer } from "../src/transfer/peer.ts";
import type { ChannelSlot } from "../src/transfer/slot.ts";

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => void unhandled.push(reason);
process.on("unhandledRejection", onUnhandled);
afterEach(() => {
  unhandled.length = 0;
});

function peerAnswered(report: object): Peer {
  const client = { status: async () => report } as unknown as ChannelClient;
  const slot = { client, holder: () => ({ owner: 7, died: false }) } as unknown as ChannelSlot;
  const peer = Peer.attached(slot, "sender", "peer-vm", 7);
  expect(peer.departure()).toBeUndefined(); // the peer's id is known from here on
  return peer;
}

test("an arbiter's status without `requester` (older arbiters): the peer is not taken for another VM's, nothing thrown", async () => {
  const peer = peerAnswered({ clients: [{ clientId: 7, vm: "host" }] });
  expect(peer.inOtherVm()).toBe(false); // asked now, answered later
  await Bun.sleep(20);
  expect(unhandled).toEqual([]);
  expect(peer.inOtherVm()).toBe(false);
});

test("an arbiter's status naming both: a peer in another VM is napped for, one in ours is not", async () => {
  const elsewhere = peerAnswered({
    requester: { clientId: 3, vm: "host" },
    clients: [{ clientId: 7, vm: "vm1" }],
  });
  const here = peerAnswered({
    requester: { clientId: 3, vm: "host" },
    clients: [{ clientId: 7, vm: "host" }],
  });
  elsewhere.inOtherVm();
  here.inOtherVm();
  await Bun.sleep(20);
  expect(unhandled).toEqual([]);
  expect(elsewhere.inOtherVm()).toBe(true);
  expect(here.inOtherVm()).toBe(false);
});
