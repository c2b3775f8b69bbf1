/**
 * The stream's size a receiver learns from its sender's records (receiver.expectedBytes, what recv's
 * progress shows as the total): the size when the sender knew it, undefined (not 0 bytes) when it did not.
 */
import { expect, test } from "bun:test";
import { type Client, connect } from "../src/guest/index.ts";
import { ChannelReceiver, ChannelSender } from "../src/transfer/index.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("mut22-expected", { size: "16MiB" });

test.each([
  ["known", 100_000, 100_000],
  ["unknown", undefined, undefined],
] as const)(
  "a stream of %s size: the receiver's expectedBytes is %p after its first record",
  async (_label, size, seen) => {
    const options = { socket: suite.socket, region: suite.region };
    const [sending, receiving] = (await Promise.all([connect(options), connect(options)])) as [
      Client,
      Client,
    ];
    try {
      const channel = `expected-${size ?? "none"}`;
      const sender = await ChannelSender.open(sending, channel, {
        chunkBytes: 64 << 10,
        depth: 2,
        expectedBytes: size,
      });
      const receiver = await ChannelReceiver.open(receiving, channel);
      const data = new Uint8Array(100_000).fill(9);
      const sent = (async () => {
        await sender.write(data);
        return sender.finish();
      })();
      expect(await receiver.receive(() => {})).toBe(64 << 10);
      expect(receiver.expectedBytes).toBe(seen);
      while ((await receiver.receive(() => {})) !== undefined) {}
      await sent;
      await Promise.all([sender.close(), receiver.close()]);
    } finally {
      await Promise.all([sending.close(), receiving.close()]);
    }
  },
);
