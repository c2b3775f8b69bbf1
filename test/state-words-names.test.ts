/**
 * Edges of the arbiter's bookkeeping (src/host/state.ts) that its protocol tests pass by: a lock word
 * naming a client on a slot it does not hold, a channel handle closed by its role holder, a reply cached
 * for another op under a reused request id, and a name of exactly the longest length.
 */
import { expect, test } from "bun:test";
import { ArbiterState, type SlotMemory } from "../src/host/state.ts";
import { MAX_NAME_BYTES, SyncCreate } from "../src/protocol/messages.ts";
import { computeGeometry, type SlotKindName } from "../src/region/layout.ts";
import { expectFailure } from "./helpers/errors.ts";

/** Slot memory whose lock words name `owners` (slot → client id), releasing them as the region's does. */
function slotMemory(owners: Map<number, number>) {
  const released: { slot: number; kind: SlotKindName; clientId: number }[] = [];
  const memory: SlotMemory = {
    initialise() {},
    clear() {},
    releaseDeadOwner(slot, kind, clientId) {
      if (owners.get(slot) !== clientId) return false;
      owners.delete(slot);
      released.push({ slot, kind, clientId });
      return true;
    },
  };
  return { memory, released };
}

function makeState(memory: SlotMemory) {
  const geometry = computeGeometry(1 << 20, 4096, 16);
  return new ArbiterState(geometry, { clientQuotaBlocks: 0, vmQuotaBlocks: 0 }, memory);
}

test("a session that ends named in the lock word of a slot it does not hold: that slot's waiters are woken too", () => {
  const owners = new Map<number, number>();
  const { memory } = slotMemory(owners);
  const state = makeState(memory);
  const holder = state.openSession("holder", 1, "host");
  const { object } = state.openSync(holder, "m", "mutex", SyncCreate.openOrCreate);
  // A guest may write any word of the region it maps: this one's id is in a lock it never opened.
  const forger = state.openSession("forger", 2, "vm1");
  owners.set(object.slot, forger.clientId);
  const { wake, released } = state.endSession(forger.clientId);
  expect(released.ownerDied).toEqual([{ name: "m", kind: "mutex" }]);
  // The holder's waiters on the lock sleep until a wake: without one they never see it released.
  expect(wake).toContain(object.slot);
});

test("a channel handle closed by its sender leaves the role words: the transfer's end says how it left", () => {
  const owners = new Map<number, number>();
  const { memory, released } = slotMemory(owners);
  const state = makeState(memory);
  const sender = state.openSession("sender", 1, "host");
  const { object } = state.openSync(sender, "channel:c", "channel", SyncCreate.openOrCreate);
  const other = state.openSession("receiver", 2, "host");
  state.openSync(other, "channel:c", "channel", SyncCreate.openOrCreate);
  owners.set(object.slot, sender.clientId);
  const told: unknown[] = [];
  state.closeSync(sender, object.slot, (abandoned) => told.push(abandoned));
  expect(told).toEqual([undefined]);
  expect(released).toEqual([]);
  expect(owners.get(object.slot)).toBe(sender.clientId);
  // A mutex's lock is released as owner-died by the same close (no handle left to unlock it with).
  const { object: mutex } = state.openSync(sender, "m", "mutex", SyncCreate.openOrCreate);
  state.openSync(other, "m", "mutex", SyncCreate.openOrCreate);
  owners.set(mutex.slot, sender.clientId);
  state.closeSync(sender, mutex.slot, (abandoned) => told.push(abandoned?.name));
  expect(told).toEqual([undefined, "m"]);
});

test("a request id reused for another op is not answered with the reply cached for the first", () => {
  const state = makeState(slotMemory(new Map()).memory);
  const client = state.openSession("a", 1, "host");
  state.rememberReply(client, 7, "alloc", { segmentId: 3 });
  expect(state.cachedReply(client, 7, "alloc")).toEqual({ segmentId: 3 });
  expect(state.cachedReply(client, 7, "free")).toBeUndefined();
  expect(state.cachedReply(client, 8, "alloc")).toBeUndefined();
});

test("names of exactly MAX_NAME_BYTES are taken for segments and locks; one byte more is refused", () => {
  const state = makeState(slotMemory(new Map()).memory);
  const client = state.openSession("a", 1, "host");
  const longest = "n".repeat(MAX_NAME_BYTES);
  expect(state.allocate(client, 4096, 0, "write", longest).name).toBe(longest);
  expect(state.open(state.openSession("b", 2, "host"), longest, "read").name).toBe(longest);
  expect(state.openSync(client, longest, "mutex", SyncCreate.openOrCreate).object.name).toBe(longest);
  const over = `${longest}n`;
  const tooLong = new RegExp(`the name is longer than ${MAX_NAME_BYTES} bytes`);
  expectFailure(() => state.allocate(client, 4096, 0, "write", over), "InvalidArgument", tooLong);
  expectFailure(
    () => state.openSync(client, over, "mutex", SyncCreate.openOrCreate),
    "InvalidArgument",
    tooLong,
  );
});
