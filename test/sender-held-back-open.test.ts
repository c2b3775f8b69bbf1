/**
 * A sender's open held back by the receiver of an earlier, unfinished transfer (src/transfer/ring-setup.ts,
 * awaitOldReceiverGone), in the library: `onHeldBack` is told that receiver's client id when the wait
 * begins and undefined once it let go (the CLI names the old receiver only in between), and the open goes
 * on as soon as it closed; an `onHeldBack` that is no function is refused at open, before any wait.
 */
import { expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { ChannelReceiver } from "../src/transfer/receiver.ts";
import { ChannelSender } from "../src/transfer/sender.ts";
import { expectRejection } from "./helpers/errors.ts";
import { eventually } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("sender-held-back-open", { size: "64MiB" });

test("onHeldBack names the earlier transfer's receiver, then undefined once it closed, and the open goes on", async () => {
  const [earlier, idle, next] = await Promise.all(
    ["earlier sender", "idle receiver", "next sender"].map((name) =>
      connect({ socket: suite.socket, region: suite.region, name }),
    ),
  );
  try {
    await ChannelSender.open(earlier!, "held-open", { chunkBytes: 65536, depth: 2 });
    const receiver = await ChannelReceiver.open(idle!, "held-open"); // joined, then never receives
    await earlier!.close(); // the earlier transfer is left unfinished
    const told: (number | undefined)[] = [];
    const opening = ChannelSender.open(next!, "held-open", {
      chunkBytes: 65536,
      depth: 2,
      onHeldBack: (receiverId) => told.push(receiverId),
    });
    await eventually(async () => told.length > 0, 20_000, "the next sender held back");
    expect(told).toEqual([idle!.clientId]);
    await receiver.close(); // lets go
    const sender = await opening;
    expect(told).toStrictEqual([idle!.clientId, undefined]); // toEqual would pass a missing undefined
    await sender.close();
  } finally {
    await Promise.all([earlier!.close(), idle!.close(), next!.close()]);
  }
}, 60_000);

test("an onHeldBack that is no function is refused at open", async () => {
  const client = await connect({ socket: suite.socket, region: suite.region, name: "bad option" });
  try {
    await expectRejection(
      ChannelSender.open(client, "held-bad", { onHeldBack: 5 as never }),
      "InvalidArgument",
      /open channel 'held-bad' since its onHeldBack 5 is not a function/,
    );
    expect((await client.status()).sync.map((object) => object.name)).not.toContain("held-bad");
  } finally {
    await client.close();
  }
});
