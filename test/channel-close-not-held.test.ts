/**
 * A channel end's close answered NotHeld: the arbiter no longer counts this client's hold on the channel's
 * slot (here dropped by a raw syncClose, as a --state journal that lost the hold's record in a crash would
 * have it). Since closes keep a refused handle for a retry (refused-frees.ts closeOrKeep), SlotHandles
 * counted the handle again after any error, this one too: the next end on the same channel then closed
 * only its own count, no syncClose went out, and the slot stayed this client's until it closed.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Client, connect } from "../src/guest/index.ts";
import { ChannelSender } from "../src/transfer/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let client: Client;
let keeper: Client;

beforeAll(async () => {
  paths = testPaths("rw30-not-held");
  arbiter = await ArbiterProcess.start(paths);
  client = await connect({ socket: paths.socket, region: paths.region, name: "closer" });
  keeper = await connect({ socket: paths.socket, region: paths.region, name: "keeper" });
});
afterAll(async () => {
  await Promise.all([client?.close(), keeper?.close()]);
  await arbiter?.stop();
  paths?.cleanup();
});

const RING = { chunkBytes: 65536, depth: 2 };

/** Whether `holder` holds channel `channel`'s slot, as the arbiter reports it. */
async function holds(holder: Client, channel: string): Promise<boolean> {
  const sync = (await keeper.status()).sync.find((each) => each.name === `channel:${channel}`);
  return (sync?.holders ?? []).includes(holder.clientId);
}

test("a channel end's close answered NotHeld counts no handle: the next end's close gives the hold up", async () => {
  // The keeper's hold keeps the slot (and its index) while the closer's goes and comes back.
  await keeper.openSlot("channel:not-held", "channel", true);
  const first = await ChannelSender.open(client, "not-held", RING);
  const transport = (
    client as unknown as { transport: { request(op: string, body: object): Promise<unknown> } }
  ).transport;
  await transport.request("syncClose", { slot: first.slot.slot });
  expect(await holds(client, "not-held")).toBe(false);
  await first.close(); // its syncClose answered NotHeld: nothing left to give up
  const second = await ChannelSender.open(client, "not-held", RING);
  expect(second.slot.slot).toBe(first.slot.slot);
  await second.close();
  // Before: true, the handle the NotHeld close counted again standing in for the hold.
  expect(await holds(client, "not-held")).toBe(false);
});
