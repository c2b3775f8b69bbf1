/**
 * A sender frozen past its lease after its end record is out (a paused VM), while its receiver verifies,
 * keeps and confirms the stream. By the time the sender resumes, the arbiter has ended its session and
 * freed the slot that held the verdict, so it cannot learn the outcome (docs/layout.md, the windows the
 * protocol cannot close): it must say so, not that the send failed, while the receiver keeps the file.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { connect } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { ChannelReceiver } from "../src/transfer/index.ts";
import { clientConfig, eventually, livenessBoundMs, spawnFixture } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { guest, outPath } from "./helpers/transfer.ts";

const LEASE_MS = 2000;
const suite = sharedArbiter("xverdictfreeze", { lease: `${LEASE_MS}ms` });

test("a sender frozen past its lease while it waits for the verdict: the receiver keeps the file, the sender says the outcome is unknown", async () => {
  const bytes = 100_000;
  const output = outPath(suite.paths, "verdict-freeze.out");
  const receiver = guest(suite.paths, ["recv", "--channel", "verdict-freeze", "--out", output]);
  const sender = spawnFixture(
    "frozen-finisher",
    clientConfig(suite.paths, { channel: "verdict-freeze", bytes }),
  );
  try {
    await sender.events.next("written");
    // Stopped, the receiver cannot give its verdict before the sender is frozen in its wait for it.
    receiver.proc.kill("SIGSTOP");
    const clientId = await finishUntilFrozen(sender);
    receiver.proc.kill("SIGCONT");
    const received = await receiver.exit(livenessBoundMs(LEASE_MS));
    // The arbiter expires the frozen sender's session.
    const result = await resultAfterExpiry(sender, clientId);
    expect(received).toBe(0);
    expect(readFileSync(output).every((byte) => byte === 9)).toBe(true);
    expect(result.ok).toBe(false);
    // Before: "Failed to keep client N's session since … (lease expired)", read as the send having failed.
    expect(result.code).toBe("LeaseExpired");
    expect(result.message).toMatch(
      /^Failed to learn the outcome of the send on channel 'verdict-freeze' since this sender's session ended while it waited for the receiver's verdict .*the receiver may have kept the whole stream or given it up/,
    );
  } finally {
    receiver.proc.kill("SIGCONT");
    sender.proc.kill("SIGKILL");
  }
}, 60_000);

// Found by a review: a sender no receiver ever joined said "the receiver may have kept the whole stream",
// speaking of a receiver it never saw.
test("a sender no receiver joined, frozen past its lease after its end record: it says none had been seen to join", async () => {
  const sender = spawnFixture(
    "frozen-finisher",
    clientConfig(suite.paths, { channel: "verdict-freeze-alone", bytes: 1000, alone: true }),
  );
  try {
    await sender.events.next("written");
    const clientId = await finishUntilFrozen(sender);
    const result = await resultAfterExpiry(sender, clientId);
    expect(result.ok).toBe(false);
    expect(result.code).toBe("LeaseExpired");
    expect(result.message).toMatch(
      /since this sender's session ended while it waited for a receiver .*none had been seen to join before this sender stopped/,
    );
    expect(result.message).not.toContain("the receiver may have kept");
  } finally {
    sender.proc.kill("SIGKILL");
  }
}, 60_000);

// Found by a review: "no receiver had joined" was said of one that had. A sender notes a join only when it
// looks (before each chunk, and when its wait for one ends); frozen after the join, before it looked, it
// knows nothing of it, and the receiver may keep the whole stream meanwhile.
test("a receiver joins and keeps the stream just before the sender is frozen, unseen: the sender says none had been seen, not that none had joined", async () => {
  const client = await connect({ socket: suite.socket, region: suite.region, name: "unseen-receiver" });
  const sender = spawnFixture(
    "frozen-finisher",
    clientConfig(suite.paths, { channel: "verdict-freeze-unseen", bytes: 1000, alone: true, unseen: true }),
  );
  try {
    await sender.events.next("written");
    const clientId = await finishUntilFrozen(sender);
    // The sender's event loop is blocked from "ended" until this join is in the region, then it stops.
    const receiver = await ChannelReceiver.open(client, "verdict-freeze-unseen");
    try {
      while ((await receiver.receive(() => undefined)) !== undefined);
    } finally {
      await receiver.close();
    }
    const result = await resultAfterExpiry(sender, clientId);
    expect(result.ok).toBe(false);
    expect(result.code).toBe("LeaseExpired");
    expect(result.message).toMatch(
      /while it waited for a receiver .*none had been seen to join before this sender stopped/,
    );
    expect(result.message).not.toContain("no receiver had joined");
  } finally {
    sender.proc.kill("SIGKILL");
    await client.close();
  }
}, 60_000);

type Fixture = ReturnType<typeof spawnFixture>;

/** Tells the frozen finisher to finish: it reports its client id once its end record is out, then stops. */
async function finishUntilFrozen(sender: Fixture): Promise<number> {
  sender.proc.stdin.write("finish\n");
  await sender.proc.stdin.flush();
  return ((await sender.events.next("ended")) as { clientId: number }).clientId;
}

/** Once the arbiter has expired the frozen sender's session, resumes it: how its finish() ended. */
async function resultAfterExpiry(sender: Fixture, clientId: number) {
  await eventually(
    async () =>
      !(await fetchStatus({ unix: suite.socket })).report.clients.some((each) => each.clientId === clientId),
    livenessBoundMs(LEASE_MS),
    "the frozen sender's session expiring",
  );
  sender.proc.kill("SIGCONT");
  return (await sender.events.next("result")) as { ok: boolean; code?: string; message?: string };
}
