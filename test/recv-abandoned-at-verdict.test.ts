/**
 * A sender that abandons its transfer after its end record is out but before its receiver claims the
 * verdict (the receiver between reading the end record and its compare-and-swap to keeping): the receiver
 * does not keep the stream even for a moment (no rename to FILE), and says the sender gave up.
 */
import { expect, test } from "bun:test";
import { type Client, connect, isIvshError } from "../src/guest/index.ts";
import { ChannelState } from "../src/region/layout.ts";
import { ChannelReceiver, ChannelSender } from "../src/transfer/index.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("mut22-verdict", { size: "16MiB" });

test("a sender abandoning between the end record and the receiver's verdict: nothing kept, the receiver told it gave up", async () => {
  const options = { socket: suite.socket, region: suite.region };
  const [sending, receiving] = (await Promise.all([connect(options), connect(options)])) as [Client, Client];
  try {
    const interrupt = new AbortController();
    const sender = await ChannelSender.open(sending, "abandon-at-verdict", {
      chunkBytes: 64 << 10,
      depth: 2,
      signal: interrupt.signal,
    });
    const kept: string[] = [];
    const receiver = await ChannelReceiver.open(receiving, "abandon-at-verdict", {
      keeper: { keep: () => void kept.push("keep"), unkeep: () => void kept.push("unkeep") },
    });
    await sender.write(new Uint8Array(1000).fill(1));
    const finishing = sender.finish().catch((error: unknown) => error);
    expect(await receiver.receive(() => {})).toBe(1000);
    // The receiver's next receive reads the end record, then confirms its session before its verdict:
    // there (its second confirmation in that call) the sender is interrupted and abandons.
    const slot = receiver.slot;
    const confirmLive = slot.confirmLive.bind(slot);
    let calls = 0;
    slot.confirmLive = async (...args: Parameters<typeof confirmLive>) => {
      if (++calls === 2) {
        interrupt.abort("test");
        while (slot.load("state") !== ChannelState.abandoned) await Bun.sleep(1);
      }
      return confirmLive(...args);
    };
    const error = await receiver.receive(() => {}).catch((caught: unknown) => caught);
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(isIvshError(error, "PeerGone")).toBe(true);
    expect(String(error)).toMatch(/the sender \(client \d+\) gave up before the end/);
    expect(kept).toEqual([]);
    expect(isIvshError(await finishing, "Interrupted")).toBe(true);
    await Promise.all([sender.close(), receiver.close()]);
  } finally {
    await Promise.all([sending.close(), receiving.close()]);
  }
});
