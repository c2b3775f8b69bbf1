/**
 * A receiver frozen past its lease while it keeps a verified stream (a paused VM): the sender, seeing its
 * session end, takes the verdict away (keeping → dropped), and a receiver whose own verdict then comes
 * second undoes its keep. Both ends report the same outcome; before, the soak saw a receiver exit 0 with
 * the file while its sender exited 1 "the receiver died" (seed 1305, scenario 307).
 */
import { expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { ChannelState, WAKE_ALL } from "../src/region/layout.ts";
import { ChannelReceiver } from "../src/transfer/receiver.ts";
import { ChannelSender } from "../src/transfer/sender.ts";
import { expectRejection } from "./helpers/errors.ts";
import { clientConfig, eventually, livenessBoundMs, spawnFixture } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const LEASE_MS = 2000;
const suite = sharedArbiter("xkeeprace", { lease: `${LEASE_MS}ms` });

const options = (name: string) => ({ socket: suite.socket, region: suite.region, name });

test("a receiver frozen while keeping: its sender drops the transfer and fails, the receiver undoes its keep", async () => {
  const receiver = spawnFixture("frozen-keeper", clientConfig(suite.paths, { channel: "frozen-keep" }));
  const client = await connect(options("sender of a frozen keeper"));
  try {
    const sender = await ChannelSender.open(client, "frozen-keep", { chunkBytes: 65536, depth: 4 });
    await receiver.events.next("joined");
    await sender.write(new Uint8Array(200_000).fill(7));
    // The receiver stops itself inside keep(); its lease runs out, the arbiter ends its session.
    await expectRejection(sender.finish(), "PeerGone", /the receiver \(client \d+\) died/);
    expect(sender.slot.load("state")).toBe(ChannelState.dropped);
    await sender.close();
    receiver.proc.kill("SIGCONT");
    const result = await receiver.events.next("result");
    expect(result).toMatchObject({ ok: false, kept: true, unkept: true });
    expect(String(result.message)).toMatch(/lease/);
    expect(await receiver.exit(livenessBoundMs(LEASE_MS))).toBe(0);
  } finally {
    receiver.proc.kill("SIGKILL");
    await client.close();
  }
}, 60_000);

test("a receiver whose verdict comes after the sender dropped the transfer undoes its keep and fails", async () => {
  const [sending, receiving] = await Promise.all(
    ["dropping sender", "late keeper"].map((name) => connect(options(name))),
  );
  const sender = await ChannelSender.open(sending!, "late-verdict", { chunkBytes: 65536, depth: 4 });
  let unkept = 0;
  // What the sender does on seeing its receiver's session end, placed after the receiver's last check of
  // its own lease: the window a freeze past the lease can open there.
  const keeper = {
    keep: () => {
      sender.slot.compareExchange("state", ChannelState.keeping, ChannelState.dropped);
    },
    unkeep: () => {
      unkept++;
    },
  };
  const receiver = await ChannelReceiver.open(receiving!, "late-verdict", { keeper });
  await sender.write(new Uint8Array(100_000).fill(5));
  const finishing = expectRejection(
    sender.finish(),
    "PeerGone",
    /the receiver \(client \d+\) gave up before the end/,
  );
  const received = (async () => {
    while ((await receiver.receive(() => {})) !== undefined);
  })();
  await expectRejection(received, "PeerGone", /the sender gave the transfer up while we kept it/);
  expect(unkept).toBe(1);
  await finishing;
  await receiver.close();
  await sender.close();
  await Promise.all([sending!.close(), receiving!.close()]);
});

test("a 'delivered' state the receiver did not confirm (a guest's scribble) fails the sender: no exit 0 unverified", async () => {
  const [sending, receiving] = await Promise.all(
    ["sender told delivered", "silent receiver"].map((name) => connect(options(name))),
  );
  const sender = await ChannelSender.open(sending!, "forged-verdict", { chunkBytes: 65536, depth: 4 });
  const receiver = await ChannelReceiver.open(receiving!, "forged-verdict");
  try {
    await sender.write(new Uint8Array(10_000).fill(3));
    const start = sender.slot.load("head");
    const finishing = sender.finish();
    // Its data record and its end record published, the sender waits for the verdict.
    await eventually(async () => sender.slot.load("head") === start + 2, 20_000, "the end record");
    // The receiver has read nothing, verified nothing: the word says delivered all the same.
    sender.slot.store("state", ChannelState.delivered);
    sender.slot.wake("state", WAKE_ALL);
    await expectRejection(finishing, "RegionCorrupted", /the channel holds a confirmation that is not ours/);
  } finally {
    await receiver.close().catch(() => undefined);
    await sender.close().catch(() => undefined);
    await Promise.all([sending!.close(), receiving!.close()]);
  }
});
