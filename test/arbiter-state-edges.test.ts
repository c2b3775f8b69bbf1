/**
 * Edges of the arbiter's bookkeeping (src/host/state.ts) that no protocol test reaches: a request larger
 * than the whole region, and a session name cut to the longest name kept.
 */
import { expect, test } from "bun:test";
import { REPLY_CACHE_SIZE } from "../src/host/recorded-state.ts";
import { ArbiterState, type SlotMemory } from "../src/host/state.ts";
import { MAX_NAME_BYTES, SyncCreate } from "../src/protocol/messages.ts";
import { computeGeometry } from "../src/region/layout.ts";
import { expectFailure } from "./helpers/errors.ts";

const noSlots: SlotMemory = { initialise() {}, clear() {}, releaseDeadOwner: () => false };

function makeState() {
  const geometry = computeGeometry(1 << 20, 4096, 16);
  return { state: new ArbiterState(geometry, { clientQuotaBlocks: 0, vmQuotaBlocks: 0 }, noSlots), geometry };
}

test("a segment of one block more than the whole region is refused as such, not as a region too full", () => {
  const { state, geometry } = makeState();
  const client = state.openSession("a", 1, "host");
  const count = geometry.blockCount + 1;
  expectFailure(
    () => state.allocate(client, 0, count, "write", ""),
    "NoSpace",
    new RegExp(`it needs ${count} blocks of 4096 bytes and the whole region has ${geometry.blockCount}`),
  );
  expect(state.allocate(client, 0, geometry.blockCount, "write", "").blockCount).toBe(geometry.blockCount);
});

test("a session name too long is cut to the longest kept, between characters: no half a character at the end", () => {
  const { state } = makeState();
  // 2-byte characters: the odd byte limit falls inside one.
  const name = "é".repeat(MAX_NAME_BYTES);
  const kept = state.openSession(name, 1, "host").name;
  expect(Buffer.byteLength(kept)).toBeLessThanOrEqual(MAX_NAME_BYTES);
  expect(kept).toBe("é".repeat(MAX_NAME_BYTES >> 1));
  expect(kept).not.toContain("\uFFFD");
});

test("the reply cache keeps a session's newest REPLY_CACHE_SIZE replies: one more pushes out the oldest", () => {
  const { state } = makeState();
  const client = state.openSession("a", 1, "host");
  for (let id = 1; id <= REPLY_CACHE_SIZE; id++) state.rememberReply(client, id, "free", { id });
  expect(state.cachedReply(client, 1, "free")).toEqual({ id: 1 });
  state.rememberReply(client, REPLY_CACHE_SIZE + 1, "free", { id: REPLY_CACHE_SIZE + 1 });
  expect(state.cachedReply(client, 1, "free")).toBeUndefined();
  expect(state.cachedReply(client, 2, "free")).toEqual({ id: 2 });
  expect(client.replies.size).toBe(REPLY_CACHE_SIZE);
});

test("a reply to a reused request id counts as the newest: the cache then pushes out the next oldest instead", () => {
  const { state } = makeState();
  const client = state.openSession("a", 1, "host");
  for (let id = 1; id <= REPLY_CACHE_SIZE; id++) state.rememberReply(client, id, "free", { id });
  state.rememberReply(client, 1, "alloc", { again: 1 });
  state.rememberReply(client, REPLY_CACHE_SIZE + 1, "free", { id: REPLY_CACHE_SIZE + 1 });
  expect(state.cachedReply(client, 1, "alloc")).toEqual({ again: 1 });
  expect(state.cachedReply(client, 2, "free")).toBeUndefined();
});

test("a VM whose last client left holding nothing is forgotten, as it would be after a restart", () => {
  const { state } = makeState();
  const client = state.openSession("a", 1, "vm-gone");
  expect(state.clientsByVm.has("vm-gone")).toBe(true);
  state.endSession(client.clientId);
  expect(state.clientsByVm.has("vm-gone")).toBe(false);
});

test("--vm-slots refuses the host's processes as VM 'host', saying they count together as one", () => {
  const geometry = computeGeometry(1 << 20, 4096, 16);
  const state = new ArbiterState(geometry, { clientQuotaBlocks: 0, vmQuotaBlocks: 0, vmSlots: 1 }, noSlots);
  const [first, second] = [state.openSession("a", 1, "host"), state.openSession("b", 2, "host")];
  state.openSync(first, "one", "mutex", SyncCreate.openOrCreate);
  expectFailure(
    () => state.openSync(second, "two", "mutex", SyncCreate.openOrCreate),
    "QuotaExceeded",
    /VM 'host' already holds 1 synchronisation slot, its --vm-slots limit of 1 \(the host's processes count together; each lock/,
  );
});
