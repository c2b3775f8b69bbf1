/**
 * A receiver joining late opens the transfer's ring by its name ('channel:NAME:TRANSFER'). If its sender
 * freed the ring first (it died) and another client allocated a segment under that name (the arbiter
 * refuses a ring's name only to a client not holding the channel's slot, 1197b3b: a raw-protocol client
 * holding it still can), the receiver must not take that segment for the ring.
 */
import { expect, test } from "bun:test";
import { Ring } from "../src/transfer/ring.ts";
import { type Spawned, spawnFixture } from "./helpers/processes.ts";
import { ringScene, takeRingName } from "./helpers/ring-taken.ts";
import { guest, outPath } from "./helpers/transfer.ts";

/**
 * A receiver (`guest recv`) waiting on `channel`, stopped; its sender dies and another client takes the
 * ring's name for `bytes` of its own (takeRingName), and `meanwhile` runs before the receiver goes on.
 * Returns its stderr, the segments then under the ring's name and the other client's.
 */
async function lateJoin(
  channel: string,
  bytes: number,
  meanwhile: (socket: string, region: string) => Promise<void> = async () => {},
): Promise<{ stderr: string; segmentIds: number[]; takerId: number }> {
  const scene = await ringScene("ring-taken", channel);
  const { own } = scene;
  const receiver = guest(own, ["recv", "--channel", channel, "--out", outPath(own, "taken.out")]);
  try {
    const other = await takeRingName(scene, receiver, bytes);
    other.bytes.fill(0xab);
    await meanwhile(own.socket, own.region);
    receiver.proc.kill("SIGCONT");
    expect(await receiver.exit()).toBe(1);
    const segmentIds = (await scene.named()).map((segment) => segment.id);
    return { stderr: await receiver.stderr, segmentIds, takerId: other.id };
  } finally {
    receiver.proc.kill("SIGKILL");
    await scene.stop();
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
