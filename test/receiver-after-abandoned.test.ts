/**
 * A sender that gave up before any receiver joined (its --timeout passed) leaves its transfer 'abandoned'
 * on the channel's slot for as long as another client holds the slot. A receiver arriving then must wait
 * for the next transfer, not take that one: it is no longer streaming, and its ring is freed.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { ChannelState, ChannelWord, channelSlotName } from "../src/region/layout.ts";
import { eventually, livenessBoundMs } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { guest, outPath, randomFile, sameBytes } from "./helpers/transfer.ts";

const suite = sharedArbiter("mut8-abandoned", { size: "16MiB" });

test("a receiver arriving after a sender gave up unjoined waits for the next sender and gets its bytes", async () => {
  const channel = "after-abandoned";
  const first = join(suite.dir, "abandoned.in");
  const second = join(suite.dir, "next.in");
  await randomFile(first, 8192);
  const data = await randomFile(second, 8192);
  // Holds the channel's slot throughout, so the abandoned transfer stays on it.
  const holder = await connect({ socket: suite.socket, region: suite.region, name: "slot holder" });
  try {
    const { slot } = await holder.openSlot(channelSlotName(channel), "channel", true);
    const words = holder.slotWords(slot);
    const gaveUp = guest(suite.paths, ["send", first, "--channel", channel, "--timeout", "1s"]);
    expect(await gaveUp.exit()).not.toBe(0);
    expect(Atomics.load(words, ChannelWord.state)).toBe(ChannelState.abandoned);
    const out = outPath(suite.paths, "after-abandoned.out");
    const receiver = guest(suite.paths, ["recv", "--channel", channel, "--out", out]);
    // Parked waiting for a transfer: it looked at the abandoned one and let it be.
    await eventually(
      async () => Atomics.load(words, ChannelWord.receiverParked) === 1 || receiver.proc.exitCode !== null,
      livenessBoundMs(5000),
      "the receiver parked waiting for a sender",
    );
    expect(receiver.proc.exitCode).toBeNull();
    const sender = guest(suite.paths, ["send", second, "--channel", channel]);
    expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
    expect(sameBytes(new Uint8Array(await Bun.file(out).arrayBuffer()), data)).toBe(true);
  } finally {
    await holder.close();
  }
}, 60_000);
