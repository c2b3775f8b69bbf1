/**
 * A sender that gives up mid-stream (interrupted, or its input failed) first marks the transfer abandoned,
 * then lets go of its end; its receiver sees whichever comes first, and said "the sender abandoned the
 * transfer" for the one and "the sender went away before the end" for the other: one situation in two
 * wordings. It now says the same words either way, and another for a sender that died (kill -9:
 * transfer-failures.test.ts). Real processes throughout.
 */
import { expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { abortWhenGone } from "../src/transfer/peer.ts";
import { ChannelReceiver } from "../src/transfer/receiver.ts";
import { ChannelSender } from "../src/transfer/sender.ts";
import { eventually } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { guest, outPath, waitForSize } from "./helpers/transfer.ts";

const suite = sharedArbiter("gave-up");

const GAVE_UP =
  /ERROR Failed to transfer on channel '[^']+' since the sender \(client \d+\) gave up before the end \(it was interrupted, closed its end early, or failed: its own error says why\)\n/;

/** A sender interrupted mid-stream; its receiver's stderr. */
async function interruptedSender(channel: string): Promise<string> {
  const output = outPath(suite.paths, `${channel}.out`);
  const receiver = guest(suite.paths, ["recv", "--channel", channel, "--out", output]);
  const sender = guest(suite.paths, ["send", "-", "--channel", channel]);
  try {
    sender.proc.stdin.write(new Uint8Array(100_000).fill(3));
    await sender.proc.stdin.flush();
    await waitForSize(`${output}.partial`, 100_000);
    sender.proc.kill("SIGINT");
    expect(await sender.exit()).toBe(130);
    expect(await receiver.exit()).toBe(1);
    expect(await Bun.file(output).exists()).toBe(false);
    return await receiver.stderr;
  } finally {
    receiver.proc.kill("SIGKILL");
    sender.proc.kill("SIGKILL");
  }
}

test("a sender interrupted while its receiver waits for data: 'the sender gave up before the end'", async () => {
  expect(await interruptedSender("waiting")).toMatch(GAVE_UP);
}, 60_000);

test("the receiver's watch on its sender while it writes its output (it sees the end let go, not the state) says the same as its next look at the channel", async () => {
  const [sending, receiving] = await Promise.all(
    ["sender", "receiver"].map((name) => connect({ socket: suite.socket, region: suite.region, name })),
  );
  try {
    const sender = await ChannelSender.open(sending!, "watched", { chunkBytes: 65536, depth: 2 });
    const receiver = await ChannelReceiver.open(receiving!, "watched");
    await sender.write(new Uint8Array(65536).fill(1));
    sender.flush();
    expect(await receiver.receive(() => {})).toBe(65536);
    // What `ivsh guest recv` runs while it writes a record out (run.ts): it looks only at the sender's end.
    const watch = abortWhenGone(receiver.sender);
    await sender.close(); // unfinished: abandoned, then let go
    await eventually(async () => watch.signal.aborted, 10_000, "the watch seeing the sender gone");
    watch.stop();
    const seen = String(watch.signal.reason);
    expect(seen).toMatch(/the sender \(client \d+\) gave up before the end \(it was interrupted/);
    let looked: unknown;
    await receiver
      .receive(() => {})
      .catch((error: unknown) => {
        looked = error;
      });
    expect(String(looked)).toBe(seen);
    await receiver.close();
  } finally {
    await Promise.all([sending!.close(), receiving!.close()]);
  }
}, 60_000);

test("the same for a receiver that gives up: its sender's watch and its next write say the same words", async () => {
  const [sending, receiving] = await Promise.all(
    ["sender", "receiver"].map((name) => connect({ socket: suite.socket, region: suite.region, name })),
  );
  try {
    const sender = await ChannelSender.open(sending!, "dropped", { chunkBytes: 65536, depth: 2 });
    const receiver = await ChannelReceiver.open(receiving!, "dropped");
    await sender.write(new Uint8Array(65536).fill(1));
    sender.flush();
    expect(await receiver.receive(() => {})).toBe(65536);
    // What `ivsh guest send` runs while it reads its input (run.ts): it looks only at the receiver's end.
    const watch = abortWhenGone(sender.receiver);
    await receiver.close(); // unfinished: dropped, then let go
    await eventually(async () => watch.signal.aborted, 10_000, "the watch seeing the receiver gone");
    watch.stop();
    const seen = String(watch.signal.reason);
    expect(seen).toMatch(/the receiver \(client \d+\) gave up before the end \(it was interrupted/);
    // More than the ring holds: the write waits for space, and finds the transfer dropped.
    let looked: unknown;
    await sender.write(new Uint8Array(1 << 20)).catch((error: unknown) => {
      looked = error;
    });
    expect(String(looked)).toBe(seen);
    await sender.close();
  } finally {
    await Promise.all([sending!.close(), receiving!.close()]);
  }
}, 60_000);
