/**
 * A sender closed before finish() marks its transfer abandoned (sender.ts giveUp): the channel's state word
 * says so at once, so `ivsh status` stops listing the transfer as in progress though its receiver still
 * holds the channel, and the receiver is told the sender gave up.
 */
import { expect, test } from "bun:test";
import { connect, isIvshError } from "../src/guest/index.ts";
import { ChannelState } from "../src/region/layout.ts";
import { ChannelReceiver } from "../src/transfer/receiver.ts";
import { ChannelSender } from "../src/transfer/sender.ts";
import { channelProbes } from "./helpers/channel-probes.ts";
import { eventually, livenessBoundMs } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const LEASE_MS = 5000;
const suite = sharedArbiter("mut22-abandon", { size: "64MiB", lease: `${LEASE_MS}ms` });
const { expectNothingHeld, writeChannelWord } = channelProbes(suite, LEASE_MS);

test("a sender closed unfinished: state abandoned, no transfer in progress listed, its receiver told it gave up", async () => {
  const [client, other] = await Promise.all(
    ["sender", "receiver"].map((name) => connect({ socket: suite.socket, region: suite.region, name })),
  );
  const sender = await ChannelSender.open(client!, "left", { chunkBytes: 65536, depth: 2 });
  const receiver = await ChannelReceiver.open(other!, "left");
  await sender.write(new Uint8Array(65536).fill(7));
  expect(await receiver.receive(() => {})).toBe(65536);
  await sender.close(); // before finish(): the transfer is abandoned
  const state = await writeChannelWord("left", "state", (value) => value);
  expect(state).toBe(ChannelState.abandoned);
  const listed = async () =>
    (await other!.status()).transfers.some((transfer) => transfer.channel === "left");
  await eventually(async () => !(await listed()), livenessBoundMs(LEASE_MS), "the transfer no longer listed");
  const error = await receiver.receive(() => {}).catch((caught: unknown) => caught);
  expect(isIvshError(error, "PeerGone")).toBe(true);
  expect(String(error)).toMatch(/the sender \(client \d+\) gave up before the end/);
  await receiver.close();
  await Promise.all([client!.close(), other!.close()]);
  await expectNothingHeld();
}, 60_000);
