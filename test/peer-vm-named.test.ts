/**
 * A peer in another VM that died (its QEMU killed mid-transfer): the host end said "the sender (client 41)
 * died", a number the operator cannot place (a VM trial). The arbiter forgets a dead client, but a wait for
 * a peer elsewhere has asked it where the peer runs: the error names that VM, or the host. A peer on our own
 * side, or one never asked about, is told as before.
 */
import { expect, test } from "bun:test";
import { ChannelState } from "../src/region/layout.ts";
import { Peer } from "../src/transfer/peer.ts";
import type { ChannelSlot } from "../src/transfer/slot.ts";

/** A slot whose arbiter knows client 5 in `peerVm` while `alive.value`, and us in `ourVm`. */
function scriptedSlot(peerVm: string, ourVm: string, alive: { value: boolean }) {
  const slot = {
    holder: () => ({ owner: 0, died: true }),
    load: (word: string) => (word === "state" ? ChannelState.streaming : 0),
    sessionLost: async () => undefined,
    client: {
      lost: undefined,
      leaseInDoubt: () => false,
      status: async (_limit: number, id: number) => ({
        clients: alive.value && id === 5 ? [{ clientId: 5, vm: peerVm }] : [],
        requester: { vm: ourVm },
      }),
    },
  };
  return slot as unknown as ChannelSlot;
}

async function diedAfterAsked(peerVm: string, ourVm: string, ask: boolean): Promise<string> {
  const alive = { value: true };
  const peer = Peer.attached(scriptedSlot(peerVm, ourVm, alive), "sender", "vm-named", 5);
  peer.departure(); // learns the id, as the first look of a wait does
  if (ask) {
    peer.inOtherVm();
    await Bun.sleep(0); // the answer comes in
  }
  alive.value = false;
  return (await peer.goneError({ owner: 0, died: true })).message;
}

test("a sender in another VM that died is named with its VM", async () => {
  const message = await diedAfterAsked("vm32a", "host", true);
  expect(message).toMatch(/the sender \(client 5\) died/);
  expect(message).toContain("it ran in VM 'vm32a'");
});

test("a sender on the host, seen from a guest, is named as the host's", async () => {
  expect(await diedAfterAsked("host", "vm32b", true)).toContain("it ran on the host");
});

test("a peer of our own VM, or one never asked about, is told as before", async () => {
  for (const message of [
    await diedAfterAsked("vm32a", "vm32a", true),
    await diedAfterAsked("vm32a", "host", false),
  ])
    expect(message).toEndWith("the sender (client 5) died (its connection closed or its lease expired)");
});
