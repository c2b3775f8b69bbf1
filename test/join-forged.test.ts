/**
 * The word that says a receiver joined the transfer (`receiverJoined`), written by another guest before
 * any receiver came: no receiver stored its id (`receiverId` is still 0), so the sender has nobody to
 * watch, and a real receiver that comes finds the transfer taken. Neither may wait for ever.
 */
import { expect, test } from "bun:test";
import { fetchStatus } from "../src/guest/inspect.ts";
import { ChannelWord, computeGeometry, slotWordIndex } from "../src/region/layout.ts";
import { mapRegionFile } from "../src/region/mapping.ts";
import { eventually, livenessBoundMs } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { guest, outPath } from "./helpers/transfer.ts";

const LEASE_MS = 3000;
const suite = sharedArbiter("join-forged", { size: "64MiB", lease: `${LEASE_MS}ms` });

/** The channel's slot words, mapped as a guest could; undefined until the channel exists. */
async function channelWords(channel: string) {
  const { report } = await fetchStatus({ unix: suite.socket });
  const slot = report.sync.find((object) => object.name === `channel:${channel}`);
  if (!slot) return undefined;
  const geometry = computeGeometry(report.region.size, report.region.blockSize, report.region.slotCount);
  const region = mapRegionFile(suite.region);
  const words = new Int32Array(region.bytes(0, geometry.dataOffset).buffer);
  const index = (name: keyof typeof ChannelWord) => slotWordIndex(geometry, slot.slot, ChannelWord[name]);
  return { words, index, close: () => region.close() };
}

test("receiverJoined forged before any receiver: the sender fails naming the overwrite instead of waiting for ever", async () => {
  const channel = "forged-join";
  const sender = guest(suite.paths, [
    "send",
    "-",
    "--channel",
    channel,
    "--chunk-size",
    "64KiB",
    "--depth",
    "2",
  ]);
  let forged = false;
  await eventually(
    async () => {
      const slot = await channelWords(channel);
      if (!slot) return false;
      const transfer = Atomics.load(slot.words, slot.index("transfer"));
      if (transfer !== 0) {
        Atomics.store(slot.words, slot.index("receiverJoined"), transfer);
        forged = true;
      }
      slot.close();
      return forged;
    },
    livenessBoundMs(LEASE_MS),
    "the sender publishing its ring",
  );
  // More than the ring holds (2 × 64 KiB): the sender must wait for a receiver to consume.
  sender.proc.stdin.write(new Uint8Array(200_000).fill(7));
  void sender.proc.stdin.flush();
  const receiver = guest(suite.paths, [
    "recv",
    "--channel",
    channel,
    "--out",
    outPath(suite.paths, "forged.out"),
  ]);
  try {
    expect(await sender.exit(livenessBoundMs(LEASE_MS))).not.toBe(0);
    expect(await sender.stderr).toMatch(/no receiver named itself: the region was overwritten/);
  } finally {
    receiver.proc.kill(); // it waits for a sender of a transfer it can join, as it should
    await receiver.exit();
  }
}, 60_000);
