/**
 * A receiver joining late whose sender died, its ring freed, and the ring's name then taken by another
 * client's segment (test/channel-ring-name-taken.test.ts, test/channel-ring-taken-freed.test.ts).
 */
import { join } from "node:path";
import { type Client, connect, type Segment } from "../../src/guest/index.ts";
import { fetchStatus } from "../../src/guest/inspect.ts";
import { channelSlotName } from "../../src/region/layout.ts";
import { type TestPaths, testPaths } from "./paths.ts";
import { ArbiterProcess, eventually, type Spawned } from "./processes.ts";
import { guest, randomFile } from "./transfer.ts";

export interface RingScene {
  /** The places of an arbiter of its own (20 s lease: a receiver is stopped for a moment, well inside it). */
  own: TestPaths;
  channel: string;
  /** The client that takes the ring's name ("name taker"). */
  taker: Client;
  /** The segments named as the channel's first ring ('channel:NAME:1'). */
  named(): Promise<{ id: number; holders: { clientId: number }[] }[]>;
  /** Closes the taker, stops the arbiter, removes its places. */
  stop(): Promise<void>;
}

export async function ringScene(label: string, channel: string): Promise<RingScene> {
  const own = testPaths(label);
  const host = await ArbiterProcess.start(own, { size: "16MiB", lease: "20s" });
  const taker = await connect({ socket: own.socket, region: own.region, name: "name taker" });
  const ringName = `channel:${channel}:1`;
  return {
    own,
    channel,
    taker,
    named: async () =>
      (await fetchStatus({ unix: own.socket })).report.segments.filter(
        (segment) => segment.name === ringName,
      ),
    async stop() {
      await taker.close();
      await host.stop();
      own.cleanup();
    },
  };
}

/**
 * With `receiver` about to wait on the channel: once it waits (the slot is there: it holds it), it is
 * stopped before it can join; a sender publishes its ring (8 KiB: one 8 KiB chunk, depth 2) and is killed,
 * its ring freed; the taker then allocates `bytes` under the ring's name, on the channel, as the arbiter asks
 * of a client taking a ring's name. Returns that segment; the receiver is left stopped.
 */
export async function takeRingName(scene: RingScene, receiver: Spawned, bytes: number): Promise<Segment> {
  const { own, channel, taker, named } = scene;
  const input = join(own.dir, "taken.in");
  await randomFile(input, 8192);
  const slot = async () => (await fetchStatus({ unix: own.socket })).report.sync.length === 1;
  await eventually(slot, 20_000, "the receiver waiting on the channel");
  receiver.proc.kill("SIGSTOP");
  const sender = guest(own, ["send", input, "--channel", channel]);
  try {
    // Published, not only allocated: a sender killed between its alloc and its publish leaves no transfer
    // to join, and the receiver waits on for one, as it should (a CI run's hang, 25 s).
    const published = async () =>
      (await named()).length === 1 &&
      (await fetchStatus({ unix: own.socket })).report.transfers.some((each) => each.channel === channel);
    await eventually(published, 20_000, "the sender's ring published");
  } finally {
    sender.proc.kill("SIGKILL");
  }
  await eventually(async () => (await named()).length === 0, 20_000, "the dead sender's ring freed");
  await taker.openSlot(channelSlotName(channel), "channel", false);
  return await taker.alloc(bytes, { name: `channel:${channel}:1` });
}
