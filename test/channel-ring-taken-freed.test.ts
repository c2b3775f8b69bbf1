/**
 * A receiver joining late that finds the ring's name taken by another client's segment (its sender freed
 * the ring and died first: channel-ring-name-taken.test.ts) lets that segment go: a library receiver that
 * lives on after the failed open must not keep holding a segment that is not its own.
 */
import { expect, test } from "bun:test";
import { spawnFixture } from "./helpers/processes.ts";
import { ringScene, takeRingName } from "./helpers/ring-taken.ts";

test("a receiver that found the ring's name taken by another segment holds that segment no more", async () => {
  const channel = "taken-freed";
  const scene = await ringScene("mut8-ring-freed", channel);
  const { own, taker } = scene;
  const receiver = spawnFixture("late-receiver", { socket: own.socket, region: own.region, channel });
  try {
    await receiver.events.next("connected");
    const other = await takeRingName(scene, receiver, 4096);
    receiver.proc.kill("SIGCONT");
    const failed = await receiver.events.next("failed");
    expect(String(failed.message)).toContain("the sender died before we joined");
    const [segment] = await scene.named();
    expect(segment?.id).toBe(other.id);
    expect(segment?.holders.map((holder) => holder.clientId)).toEqual([taker.clientId]);
    receiver.proc.stdin.write("bye\n");
    expect(await receiver.exit()).toBe(0);
  } finally {
    receiver.proc.kill("SIGKILL");
    await scene.stop();
  }
}, 60_000);
