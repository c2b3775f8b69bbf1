/**
 * How a status counts transfers in progress (src/host/transfers.ts) without walking every channel: among
 * the channels holding a ring, which the arbiter's bookkeeping counts as rings come and go
 * (src/host/recorded-state.ts), and those its last sweep found in progress. The count must equal a recount
 * over every channel after any run of allocations and frees, a client's end and a restart's replay.
 */
import { expect, test } from "bun:test";
import { ringChannelSlotName } from "../src/host/recorded-state.ts";
import type { StateRecord } from "../src/host/records.ts";
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
import { MAX_CHANNEL_NAME_BYTES } from "../src/transfer/slot.ts";
import { Prng } from "./helpers/prng.ts";

const noSlots: SlotMemory = { initialise() {}, clear() {}, releaseDeadOwner: () => false };
const LIMITS = { clientQuotaBlocks: 0, vmQuotaBlocks: 0 };

/** The channels with a live ring, as a walk of every segment finds them: 'SLOT NAME' each. */
function recount(state: ArbiterState): string[] {
  const channels = new Map([...state.channels.values()].map((channel) => [channel.name, channel.slot]));
  const found = new Set<string>();
  for (const segment of state.segments.values()) {
    const slotName = ringChannelSlotName(segment.name);
    const slot = slotName === undefined ? undefined : channels.get(slotName);
    if (slot !== undefined) found.add(`${slot} ${slotName}`);
  }
  return [...found].sort();
}

const counted = (state: ArbiterState) =>
  [...state.ringChannels].map(([slot, channel]) => `${slot} ${channel.name}`).sort();

test("the channels holding a ring stay those a recount finds through allocations, frees, channels closed and reopened, a client's end, a replay and a compacted journal's", () => {
  const geometry = computeGeometry(16 << 20, 4096, 64);
  const state = new ArbiterState(geometry, LIMITS, noSlots);
  const journal: StateRecord[] = [];
  state.attachJournal({ append: (record) => journal.push(record) });
  const prng = new Prng(37);
  const random = () => prng.float();
  const clients = [1, 2, 3].map((index) => state.openSession(`sender-${index}`, index, "host"));
  const channels = ["a", "b", "c", "d"];
  for (const client of clients)
    for (const channel of channels)
      state.openSync(client, channelSlotName(channel), "channel", SyncCreate.openOrCreate);
  // Channel 'e' is held by the first client alone: closed, its slot is freed with its rings still live, and
  // reopened it may take another slot (a mutex opened meanwhile takes the old one).
  const [first] = clients as [(typeof clients)[number]];
  let e = state.openSync(first, channelSlotName("e"), "channel", SyncCreate.openOrCreate).object;
  let mutexes = 0;
  // Rings, and segments named like one that are not (a plain name, a transfer number 0).
  const rings: { client: (typeof clients)[number]; id: number }[] = [];
  let transfer = 0;
  /** Where the journal was compacted: the snapshot then, and how many records came before it. */
  let compacted: { snapshot: StateRecord[]; upto: number } | undefined;
  for (let cycle = 0; cycle < 600; cycle++) {
    const roll = random();
    if (roll < 0.05) {
      if (state.channels.has(e.slot)) state.closeSync(first, e.slot, () => {});
      else {
        if (random() < 0.5) state.openSync(first, `m${++mutexes}`, "mutex", SyncCreate.openOrCreate);
        e = state.openSync(first, channelSlotName("e"), "channel", SyncCreate.openOrCreate).object;
      }
    } else if (rings.length > 0 && roll < 0.5) {
      const [ring] = rings.splice(Math.floor(random() * rings.length), 1);
      state.free(ring!.client, ring!.id);
    } else {
      const client = clients[Math.floor(random() * clients.length)]!;
      const channel = channels[Math.floor(random() * channels.length)]!;
      const ownE = client === first && state.channels.has(e.slot) && random() < 0.3;
      const name = random() < 0.1 ? `plain-${cycle}` : ringSegmentName(ownE ? "e" : channel, ++transfer);
      rings.push({ client, id: state.allocate(client, 4096, 0, "write", name).id });
    }
    if (cycle === 300) compacted = { snapshot: state.snapshot("region"), upto: journal.length };
    expect(counted(state)).toEqual(recount(state));
  }
  expect(counted(state).length).toBeGreaterThan(0);
  expect(mutexes).toBeGreaterThan(0);
  // A client's end frees what it alone held.
  state.endSession(clients[1]!.clientId);
  expect(counted(state)).toEqual(recount(state));
  // A restart replays the journal into a state of its own: the same channels, from the records as made, and
  // from a compacted journal (a snapshot, which lists rings before their channels, and the records after it).
  for (const records of [journal, [...compacted!.snapshot, ...journal.slice(compacted!.upto)]]) {
    const resumed = new ArbiterState(geometry, LIMITS, noSlots);
    resumed.reload(records);
    expect(counted(resumed)).toEqual(counted(state));
  }
  // Every ring freed: none left, whatever the counts went through.
  for (const { client, id } of rings) if (client !== clients[1]) state.free(client, id);
  expect(counted(state)).toEqual([]);
  expect(recount(state)).toEqual([]);
});

test("a ring's channel is found from its name whatever the channel's name holds: colons, other scripts, the longest", () => {
  const names = ["a", "a:1", "a:", ":", "1", "канал ☃:7", "x".repeat(MAX_CHANNEL_NAME_BYTES)];
  for (const name of names)
    for (const transfer of [1, 10, 2 ** 31 - 1])
      expect(ringChannelSlotName(ringSegmentName(name, transfer))).toBe(channelSlotName(name));
  // Not rings: a channel's slot name itself, a transfer number 0 or with a leading 0, another prefix.
  for (const name of ["channel:a", "channel:a:0", "channel:a:01", "channel:a:-1", "chan:a:1", "a:1"])
    expect(ringChannelSlotName(name)).toBeUndefined();
});

/** CHANNELS idle channels; a word load counter; the scripted words of a few. */
function manyChannels(count: number) {
  const words = new Map<number, Map<number, number>>();
  const channels = new Map<number, { kind: string; slot: number; name: string }>();
  for (let slot = 0; slot < count; slot++)
    channels.set(slot, { kind: "channel", slot, name: channelSlotName(`c${slot}`) });
  const ringChannels = new Map<number, { kind: string; slot: number; name: string }>();
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
    ringChannels,
  } as unknown as ArbiterState;
  const watch = new TransferWatch(state, slots, {} as unknown as MappedRegion);
  const streaming = (slot: number, state: number, ring: boolean) => {
    words.set(slot, new Map([[ChannelWord.state, state]]));
    if (ring) ringChannels.set(slot, channels.get(slot)!);
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

// A status(0) is asked once a second by each sender waiting for room, which happens when rings fill the
// region: walking the channels holding one by name and sorting them cost ~300 ns a channel (490 µs at 1 000
// busy channels, 40 times a walk of every channel), where each channel is looked at once now.
test("a status with every channel busy looks at each of them once: no sort, no second walk", () => {
  const count = 2000;
  const state = new ArbiterState(computeGeometry(64 << 20, 4096, count + 8), LIMITS, noSlots);
  const client = state.openSession("sender", 1, "host");
  const words = new Map<number, number>();
  for (let index = 0; index < count; index++) {
    const name = `busy-${index}`;
    const { object } = state.openSync(client, channelSlotName(name), "channel", SyncCreate.openOrCreate);
    state.allocate(client, 4096, 0, "write", ringSegmentName(name, 1));
    words.set(object.slot, ChannelState.streaming);
  }
  const slots = {
    load: (slot: number, word: number) => (word === ChannelWord.state ? (words.get(slot) ?? 0) : 0),
  } as unknown as RegionSlots;
  const watch = new TransferWatch(state, slots, {} as unknown as MappedRegion);
  watch.sample(1000); // the sweep finds them all too
  // Every look at a channel reads its slot: counted on the state's own objects.
  let looks = 0;
  for (const channel of state.channels.values()) {
    const { slot } = channel;
    Object.defineProperty(channel, "slot", {
      get: () => {
        looks++;
        return slot;
      },
    });
  }
  expect(watch.report(0).total).toBe(count);
  expect(looks).toBeLessThanOrEqual(count);
});
