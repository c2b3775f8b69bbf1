/**
 * A channel's transfer number (src/transfer/ring-setup.ts, allocateRing) lives in an Int32 slot word and
 * names each transfer's ring segment: after 2^31 - 1 it wraps to 1, never 0 ("none yet") nor a negative
 * number; and a ring name a receiver of an earlier transfer still holds is skipped for the next number.
 */
import { expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { ringSegmentName } from "../src/region/layout.ts";
import { ChannelReceiver } from "../src/transfer/receiver.ts";
import { ChannelSender } from "../src/transfer/sender.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { sameBytes } from "./helpers/transfer.ts";

const suite = sharedArbiter("transfer-number-wrap", { size: "16MiB" });
const RING = { chunkBytes: 4096, depth: 2 };

async function transferOf(sender: ChannelSender, receiver: ChannelReceiver, data: Uint8Array) {
  const received: Uint8Array[] = [];
  const [sent] = await Promise.all([
    (async () => {
      await sender.write(data);
      return sender.finish();
    })(),
    (async () => {
      while ((await receiver.receive((chunk) => void received.push(chunk.slice()))) !== undefined);
    })(),
  ]);
  expect(sent.bytes).toBe(data.length);
  expect(sameBytes(Buffer.concat(received), data)).toBe(true);
}

test("the transfer after number 2^31 - 1 is 1, or the next whose ring name is free, and streams", async () => {
  const [first, second, firstReceiving, secondReceiving] = await Promise.all(
    ["sender 1", "sender 2", "receiver 1", "receiver 2"].map((name) =>
      connect({ socket: suite.socket, region: suite.region, name }),
    ),
  );
  try {
    const sender1 = await ChannelSender.open(first!, "wrap");
    const receiver1 = await ChannelReceiver.open(firstReceiving!, "wrap");
    await transferOf(sender1, receiver1, new Uint8Array(5000).fill(1));
    expect(sender1.transfer).toBe(1);
    await sender1.close();
    // receiver 1, still open, keeps transfer 1's ring (its name taken) and the slot; as if 2^31 - 2
    // transfers more had gone by since:
    expect((await firstReceiving!.status()).segments.map((segment) => segment.name)).toContain(
      ringSegmentName("wrap", 1),
    );
    receiver1.slot.store("transfer", 2 ** 31 - 1);
    const sender2 = await ChannelSender.open(second!, "wrap", RING);
    expect(sender2.transfer).toBe(2); // 1 wrapped to, its ring name taken: the next
    expect(sender2.slot.load("transfer")).toBe(2);
    await receiver1.close();
    const receiver2 = await ChannelReceiver.open(secondReceiving!, "wrap");
    await transferOf(
      sender2,
      receiver2,
      new Uint8Array(9000).map((_, index) => index & 0xff),
    );
    await Promise.all([sender2.close(), receiver2.close()]);
  } finally {
    await Promise.all([first, second, firstReceiving, secondReceiving].map((client) => client!.close()));
  }
}, 60_000);
