/**
 * A channel end whose holder died while the other end still holds the channel: its lock word is marked
 * owner-died (the arbiter does it), and the next sender takes it over, as a lock left by a dead owner.
 * Refused instead, the channel stayed "busy" naming a client that no longer exists, for as long as the
 * receiver kept it open.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { ChannelReceiver } from "../src/transfer/receiver.ts";
import { ChannelSender } from "../src/transfer/sender.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, livenessBoundMs } from "./helpers/processes.ts";
import { guest } from "./helpers/transfer.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("channel-dead-sender");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("a sender killed while the receiver holds the channel: a new sender takes the channel over", async () => {
  const where = { socket: paths.socket, region: paths.region };
  const receiving = await connect(where);
  const next = await connect(where);
  // A sender from a pipe that stays open: it claims the channel and waits for data.
  const dead = guest(paths, ["send", "-q", "-", "--channel", "dead-sender"]);
  const receiver = await ChannelReceiver.open(receiving, "dead-sender");
  dead.proc.kill("SIGKILL");
  await dead.proc.exited;
  await eventually(
    async () => receiver.slot.holder("sender").died,
    livenessBoundMs(5000),
    "the dead sender's lock word marked owner-died",
  );
  // It takes the sender's word at once; its ring then waits for the stale receiver to let go.
  const opening = ChannelSender.open(next, "dead-sender", { chunkBytes: 65536, depth: 2 });
  const claimed = eventually(
    async () => receiver.slot.holder("sender").owner === next.clientId,
    livenessBoundMs(5000),
    "the new sender holding the channel's sender word",
  );
  claimed.catch(() => undefined); // a refused open (ChannelBusy) is what the race below reports
  expect(await Promise.race([claimed.then(() => "claimed"), opening.then(() => "opened", String)])).toMatch(
    /claimed|opened/,
  );
  await receiver.close();
  const sender = await opening;
  await sender.close();
  await Promise.all([receiving.close(), next.close()]);
}, 60_000);
