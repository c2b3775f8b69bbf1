/**
 * A receiver joining late that finds the ring's name taken by another client's segment (its sender freed
 * the ring and died first: channel-ring-name-taken.test.ts) lets that segment go: a library receiver that
 * lives on after the failed open must not keep holding a segment that is not its own.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { channelSlotName } from "../src/region/layout.ts";
import { testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, type Spawned, spawnFixture } from "./helpers/processes.ts";
import { guest, randomFile } from "./helpers/transfer.ts";

test("a receiver that found the ring's name taken by another segment holds that segment no more", async () => {
  const own = testPaths("mut8-ring-freed");
  const host = await ArbiterProcess.start(own, { size: "16MiB", lease: "20s" });
  const channel = "taken-freed";
  const ringName = `channel:${channel}:1`;
  const input = join(own.dir, "taken.in");
  await randomFile(input, 8192);
  const receiver = spawnFixture("late-receiver", { socket: own.socket, region: own.region, channel });
  let sender: Spawned | undefined;
  const taker = await connect({ socket: own.socket, region: own.region, name: "name taker" });
  const named = async () =>
    (await fetchStatus({ unix: own.socket })).report.segments.filter((segment) => segment.name === ringName);
  try {
    await receiver.events.next("connected");
    const slot = async () => (await fetchStatus({ unix: own.socket })).report.sync.length === 1;
    await eventually(slot, 20_000, "the receiver waiting on the channel");
    receiver.proc.kill("SIGSTOP");
    sender = guest(own, ["send", input, "--channel", channel]);
    await eventually(async () => (await named()).length === 1, 20_000, "the sender's ring published");
    sender.proc.kill("SIGKILL");
    await eventually(async () => (await named()).length === 0, 20_000, "the dead sender's ring freed");
    await taker.openSlot(channelSlotName(channel), "channel", false);
    const other = await taker.alloc(4096, { name: ringName });
    receiver.proc.kill("SIGCONT");
    const failed = await receiver.events.next("failed");
    expect(String(failed.message)).toContain("the sender died before we joined");
    const [segment] = await named();
    expect(segment?.id).toBe(other.id);
    expect(segment?.holders.map((holder) => holder.clientId)).toEqual([taker.clientId]);
    receiver.proc.stdin.write("bye\n");
    expect(await receiver.exit()).toBe(0);
  } finally {
    receiver.proc.kill("SIGKILL");
    sender?.proc.kill("SIGKILL");
    await taker.close();
    await host.stop();
    own.cleanup();
  }
}, 60_000);
