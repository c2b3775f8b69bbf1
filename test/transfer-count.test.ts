/**
 * How a status counts transfers in progress (src/host/transfers.ts) without walking every channel: among
 * the channels holding a ring, which the arbiter's bookkeeping counts as rings come and go
 * (src/host/recorded-state.ts), and those its last sweep found in progress. The count must equal a recount
 * over every channel after any run of allocations and frees, a client's end and a restart's replay.
 */
import { expect, test } from "bun:test";
import { ringChannelSlotName } from "../src/host/recorded-state.ts";
import type { RegionSlots } from "../src/host/slots.ts";
import type { SlotMemory } from "../src/host/state.ts";
import { ArbiterState } from "../src/host/state.ts";
import { TransferWatch } from "../src/host/transfers.ts";
import { SyncCreate } from "../src/protocol/messages.ts";
import {
  ChannelState,
  ChannelWord,
  channelSlotName,
  computeGeometry,
  ringSegmentName,
} from "../src/region/layout.ts";
import type { MappedRegion } from "../src/region/mapping.ts";
import { Prng } from "./helpers/prng.ts";

const noSlots: SlotMemory = { initialise() {}, clear() {}, releaseDeadOwner: () => false };
const LIMITS = { clientQuotaBlocks: 0, vmQuotaBlocks: 0 };

/** The channels with a live ring, as a walk of every segment finds them. */
function recount(state: ArbiterState): string[] {
  const channels = new Set([...state.channels.values()].map((channel) => channel.name));
  const names = new Set<string>();
  for (const segment of state.segments.values()) {
    const slotName = ringChannelSlotName(segment.name);
    if (slotName !== undefined && channels.has(slotName)) names.add(slotName);
  }
  return [...names].sort();
}

const counted = (state: ArbiterState) => [...state.ringChannels()].map((channel) => channel.name).sort();

test("the channels holding a ring stay those a recount finds through allocations, frees, a client's end and a replay", () => {
  const geometry = computeGeometry(16 << 20, 4096, 64);
  const state = new ArbiterState(geometry, LIMITS, noSlots);
  const prng = new Prng(37);
  const random = () => prng.float();
  const clients = [1, 2, 3].map((index) => state.openSession(`sender-${index}`, index, "host"));
  const channels = ["a", "b", "c", "d"];
  for (const client of clients)
    for (const channel of channels)
      state.openSync(client, channelSlotName(channel), "channel", SyncCreate.openOrCreate);
  // Rings, and segments named like one that are not (a plain name, a transfer number 0).
  const rings: { client: (typeof clients)[number]; id: number }[] = [];
  let transfer = 0;
  for (let cycle = 0; cycle < 400; cycle++) {
    if (rings.length > 0 && random() < 0.5) {
      const [ring] = rings.splice(Math.floor(random() * rings.length), 1);
      state.free(ring!.client, ring!.id);
    } else {
      const client = clients[Math.floor(random() * clients.length)]!;
      const channel = channels[Math.floor(random() * channels.length)]!;
      const name = random() < 0.1 ? `plain-${cycle}` : ringSegmentName(channel, ++transfer);
      rings.push({ client, id: state.allocate(client, 4096, 0, "write", name).id });
    }
    expect(counted(state)).toEqual(recount(state));
  }
  expect(counted(state).length).toBeGreaterThan(0);
  // A client's end frees what it alone held.
  state.endSession(clients[0]!.clientId);
  expect(counted(state)).toEqual(recount(state));
  // A restart replays the journal into a state of its own: the same channels.
  const resumed = new ArbiterState(geometry, LIMITS, noSlots);
  resumed.reload(state.snapshot("region"));
  expect(counted(resumed)).toEqual(counted(state));
  // Every ring freed: none left, whatever the counts went through.
  for (const { client, id } of rings) if (client !== clients[0]) state.free(client, id);
  expect(counted(state)).toEqual([]);
  expect(recount(state)).toEqual([]);
});

/** CHANNELS idle channels; a word load counter; the scripted words of a few. */
function manyChannels(count: number) {
  const words = new Map<number, Map<number, number>>();
  const channels = new Map<number, { kind: string; slot: number; name: string }>();
  for (let slot = 0; slot < count; slot++)
    channels.set(slot, { kind: "channel", slot, name: channelSlotName(`c${slot}`) });
  const withRing = new Set<number>();
  let loads = 0;
  const slots = {
    load: (slot: number, word: number) => {
      loads++;
      return words.get(slot)?.get(word) ?? 0;
    },
  } as unknown as RegionSlots;
  const state = {
    geometry: { dataOffset: 0, blockSize: 4096 },
    channels,
    segments: new Map(),
    sessions: new Map(),
    ringChannels: () => [...withRing].map((slot) => channels.get(slot)!),
  } as unknown as ArbiterState;
  const watch = new TransferWatch(state, slots, {} as unknown as MappedRegion);
  const streaming = (slot: number, state: number, ring: boolean) => {
    words.set(slot, new Map([[ChannelWord.state, state]]));
    if (ring) withRing.add(slot);
  };
  return { watch, streaming, loads: () => loads };
}

test("a status counts transfers among the channels holding a ring and those the last sweep found, not every channel", () => {
  const { watch, streaming, loads } = manyChannels(10_000);
  streaming(5, ChannelState.streaming, true);
  streaming(7000, ChannelState.delivered, true); // its sender has not freed the ring yet
  // A sender killed before a receiver joined: its ring freed with its session, `streaming` left behind.
  streaming(9000, ChannelState.streaming, false);
  watch.sample(1000);
  const before = loads();
  const { total, transfers } = watch.report(0);
  expect(loads() - before).toBeLessThan(100);
  expect(total).toBe(2); // what a walk of every channel counts
  expect(transfers).toEqual([]);
  // Listed in slot order; a list cut at its limit still counts the rest.
  expect(watch.report(10).transfers.map((each) => each.slot)).toEqual([5, 9000]);
  expect(watch.report(1)).toMatchObject({ total: 2, transfers: [{ slot: 5 }] });
  // A transfer published since the sweep, in a ring: counted at once, not at the next sweep.
  streaming(3, ChannelState.keeping, true);
  expect(watch.report(0).total).toBe(3);
});
