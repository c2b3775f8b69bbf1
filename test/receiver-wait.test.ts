/**
 * A receiver's wait for a sender ends when its signal aborts (--timeout, Ctrl-C), not when its park next
 * times out. The client is a stand-in whose parks end only when woken, so nothing here depends on timing.
 */
import { test } from "bun:test";
import { SLOT_WORDS } from "../src/region/layout.ts";
import type { ChannelClient } from "../src/transfer/channel-client.ts";
import { ChannelReceiver } from "../src/transfer/receiver.ts";
import { expectRejection } from "./helpers/errors.ts";

/** One slot at word 0; `waitWord` parks until `wakeWord` (a real park would also end after 500 ms). */
function parkingClient() {
  const parked: (() => void)[] = [];
  let onPark: () => void = () => {};
  const firstPark = new Promise<void>((resolve) => {
    onPark = resolve;
  });
  const client = {
    clientId: 1,
    geometry: { regionSize: 0, blockSize: 0, blockCount: 0, slotCount: 1, slotOffset: 0, dataOffset: 0 },
    words: new Int32Array(SLOT_WORDS),
    lost: undefined,
    openSlot: async () => ({ slot: 0, generation: 1, created: 1 }),
    closeSlot: async () => {},
    waitWord: () =>
      new Promise<boolean>((resolve) => {
        parked.push(() => resolve(true));
        onPark();
      }),
    wakeWord: () => {
      for (const wake of parked.splice(0)) wake();
    },
    keepAlive: () => {},
    leaseInDoubt: () => false,
    confirmLease: async () => {},
  } as unknown as ChannelClient;
  return { client, firstPark };
}

test("a receiver parked waiting for a sender stops at once when its signal aborts", async () => {
  const { client, firstPark } = parkingClient();
  const controller = new AbortController();
  const opening = ChannelReceiver.open(client, "waiting", { signal: controller.signal });
  await firstPark;
  controller.abort("the wait limit passed");
  // Before, the park went on (in the arbiter: for the rest of its 500 ms slice; here: for ever).
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stuck = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error("the receiver was still parked 10 s after the abort")), 10_000);
  });
  try {
    await expectRejection(Promise.race([opening, stuck]), "Interrupted");
  } finally {
    clearTimeout(timer);
  }
});
