/**
 * A receiver joining late opens the transfer's ring by its name ('channel:NAME:TRANSFER'). If its sender
 * freed the ring first (it died) and another client allocated a segment under that name (the arbiter
 * refuses a ring's name only to a client not holding the channel's slot, 1197b3b: a raw-protocol client
 * holding it still can), the receiver must not take that segment for the ring.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { channelSlotName } from "../src/region/layout.ts";
import { Ring } from "../src/transfer/ring.ts";
import { testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, type Spawned, spawnFixture } from "./helpers/processes.ts";
import { guest, outPath, randomFile } from "./helpers/transfer.ts";

/**
 * A receiver waiting on `channel`, stopped; a sender publishes its ring (8 KiB: one 8 KiB chunk, depth 2)
 * and dies, its ring freed; then another client allocates `bytes` under the ring's name and fills them
 * with bytes of its own, and `meanwhile` runs before the receiver goes on. Returns its stderr.
 */
async function lateJoin(
  channel: string,
  bytes: number,
  meanwhile: (socket: string, region: string) => Promise<void> = async () => {},
): Promise<{ stderr: string; segmentIds: number[]; takerId: number }> {
  // Its own arbiter: the receiver is stopped for a moment, well inside this lease.
  const own = testPaths("ring-taken");
  const host = await ArbiterProcess.start(own, { size: "16MiB", lease: "20s" });
  const input = join(own.dir, "taken.in");
  await randomFile(input, 8192);
  const receiver = guest(own, ["recv", "--channel", channel, "--out", outPath(own, "taken.out")]);
  let sender: Spawned | undefined;
  const taker = await connect({ socket: own.socket, region: own.region, name: "name taker" });
  const ringName = `channel:${channel}:1`;
  const named = async () =>
    (await fetchStatus({ unix: own.socket })).report.segments.filter((segment) => segment.name === ringName);
  try {
    // Waiting for a sender (the slot is there: it holds it), then stopped before it can join.
    const slot = async () => (await fetchStatus({ unix: own.socket })).report.sync.length === 1;
    await eventually(slot, 20_000, "the receiver waiting on the channel");
    receiver.proc.kill("SIGSTOP");
    sender = guest(own, ["send", input, "--channel", channel]);
    await eventually(async () => (await named()).length === 1, 20_000, "the sender's ring published");
    sender.proc.kill("SIGKILL");
    await eventually(async () => (await named()).length === 0, 20_000, "the dead sender's ring freed");
    // On the channel, as the arbiter asks of a client taking a ring's name (the receiver holds it meanwhile).
    await taker.openSlot(channelSlotName(channel), "channel", false);
    const other = await taker.alloc(bytes, { name: ringName });
    other.bytes.fill(0xab);
    await meanwhile(own.socket, own.region);
    receiver.proc.kill("SIGCONT");
    expect(await receiver.exit()).toBe(1);
    const segmentIds = (await named()).map((segment) => segment.id);
    return { stderr: await receiver.stderr, segmentIds, takerId: other.id };
  } finally {
    receiver.proc.kill("SIGKILL");
    sender?.proc.kill("SIGKILL");
    await taker.close();
    await host.stop();
    own.cleanup();
  }
}

test("a dead sender's ring name taken by another client before its receiver joins: the receiver says the sender died, not that the region was overwritten", async () => {
  // A segment smaller than the ring the slot still announces.
  const { stderr, segmentIds, takerId } = await lateJoin("taken", 4096);
  // Before: "Failed to receive on channel 'taken' since a ring of 2 × 8192 bytes does not fit its
  // 4096-byte segment: the region was overwritten" (RegionCorrupted).
  expect(stderr).toContain("Failed to receive on channel 'taken' since the sender died before we joined");
  expect(stderr).not.toContain("overwritten");
  expect(segmentIds).toEqual([takerId]); // the other client's segment is left alone
}, 60_000);

test("the same with a second sender holding the channel (its ring not yet allocated): the receiver does not read the other client's segment as its ring", async () => {
  let second: Spawned | undefined;
  try {
    // A segment the ring fits: the geometry check passes, and a live sender holds the sender's role.
    const { stderr, segmentIds, takerId } = await lateJoin(
      "taken2",
      Ring.bytesNeeded(2, 8192),
      async (socket, region) => {
        second = spawnFixture("gated-sender", { socket, region, channel: "taken2" });
        await second.events.next("allocating");
      },
    );
    // Before: "Failed to receive on channel 'taken2' since record 0 claims 2880154539 bytes with flags
    // 2880154539 (its chunks hold 8192): the region was overwritten": the other client's bytes, read as records.
    expect(stderr).toContain(
      "Failed to receive on channel 'taken2' since the sender went away before we joined",
    );
    expect(stderr).not.toContain("overwritten");
    expect(segmentIds).toEqual([takerId]);
  } finally {
    second?.proc.kill("SIGKILL");
  }
}, 60_000);
