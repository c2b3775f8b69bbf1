/**
 * The arbiter's bookkeeping as its records make it (src/host/recorded-state.ts), in-process on fixed
 * records: what a snapshot (a compacted journal) keeps, what a reload (the undo of a change the journal
 * refused) forgets, what an ended session or a freed channel leaves behind, and which id or generation
 * counts as the newest across a wrap past 2^32 - 1.
 */
import { expect, test } from "bun:test";
import { RecordedState } from "../src/host/recorded-state.ts";
import { STATE_FORMAT, type StateRecord } from "../src/host/records.ts";
import { computeGeometry } from "../src/region/layout.ts";

const geometry = computeGeometry(1 << 20, 4096, 16);

function begin(
  fields: Partial<{ nextClientId: number; nextSegmentId: number; lastGeneration: number }> = {},
) {
  return {
    t: "begin",
    format: STATE_FORMAT,
    region: "/dev/shm/mut9-region",
    geometry,
    epoch: 1,
    nextClientId: fields.nextClientId ?? 1,
    nextSegmentId: fields.nextSegmentId ?? 1,
    lastGeneration: fields.lastGeneration ?? 0,
  } satisfies StateRecord;
}

function session(clientId: number, vm = "host"): StateRecord {
  return {
    t: "session",
    clientId,
    token: `token-${clientId}`,
    name: `c${clientId}`,
    pid: 100 + clientId,
    vm,
  };
}

function stateOf(records: StateRecord[]): RecordedState {
  const state = new RecordedState(geometry);
  for (const record of records) state.apply(record);
  return state;
}

/** A state with a session holding a mutex and a channel, a segment granted to it, and a kept reply. */
const busy: StateRecord[] = [
  begin(),
  session(1),
  session(2),
  { t: "segment", id: 1, name: "area", firstBlock: 0, blockCount: 2, bytes: 8192, creator: 1 },
  { t: "grant", segmentId: 1, clientId: 2, mode: "read" },
  { t: "sync", slot: 3, name: "m", kind: "mutex", generation: 1 },
  { t: "sync-hold", slot: 3, clientId: 1 },
  { t: "sync-hold", slot: 3, clientId: 2 },
  { t: "sync", slot: 4, name: "ch", kind: "channel", generation: 2 },
  { t: "sync-hold", slot: 4, clientId: 2 },
  { t: "reply", clientId: 1, requestId: 7, op: "alloc", reply: { segmentId: 1 } },
];

test("a snapshot recreates the sync objects' holders and the sessions' kept replies, as a restart replays it", () => {
  const replayed = stateOf(stateOf(busy).snapshot("/dev/shm/mut9-region"));
  expect([...replayed.syncObjects.get(3)!.holders].sort()).toEqual([1, 2]);
  expect([...replayed.syncObjects.get(4)!.holders]).toEqual([2]);
  expect([...replayed.session(2).slots].sort()).toEqual([3, 4]);
  // A request re-sent after the restart is answered from this, not run a second time.
  expect(replayed.session(1).replies.get(7)).toEqual({ op: "alloc", reply: { segmentId: 1 } });
  expect(replayed.session(2).grants.get(1)).toBe("read");
});

test("a reload forgets every channel the records it replays do not make", () => {
  const state = stateOf(busy);
  expect([...state.channels.keys()]).toEqual([4]);
  state.reload(busy.slice(0, 8)); // the channel's records not among them
  expect(state.channels.size).toBe(0);
  expect([...state.syncObjects.keys()]).toEqual([3]);
});

test("a freed channel is no longer among the channels (a status lists no transfer on it)", () => {
  const state = stateOf([...busy, { t: "sync-release", slot: 4, clientId: 2 }, { t: "sync-free", slot: 4 }]);
  expect(state.syncObjects.has(4)).toBe(false);
  expect(state.channels.size).toBe(0);
});

test("an ended session's token resumes nothing", () => {
  const state = stateOf([...busy, { t: "session-end", clientId: 2 }]);
  expect(state.sessionByToken("token-1")?.clientId).toBe(1);
  expect(state.sessionByToken("token-2")).toBeUndefined();
});

test("a VM whose last session ended stays listed while a segment it created is charged to it", () => {
  const records: StateRecord[] = [
    begin(),
    session(1, "vm-a"),
    session(2, "host"),
    {
      t: "segment",
      id: 1,
      name: "kept",
      firstBlock: 0,
      blockCount: 3,
      bytes: 12288,
      creator: 1,
      creatorVm: "vm-a",
    },
    { t: "grant", segmentId: 1, clientId: 2, mode: "write" },
    { t: "ungrant", segmentId: 1, clientId: 1 },
    { t: "session-end", clientId: 1 },
  ];
  const state = stateOf(records);
  expect(state.blocksHeldByVm("vm-a")).toBe(3);
  expect([...(state.clientsByVm.get("vm-a") ?? ["not listed"])]).toEqual([]);
  state.apply({ t: "segment-free", segmentId: 1 });
  expect(state.clientsByVm.has("vm-a")).toBe(false);
});

test("a snapshot's segment whose creator's VM has no session in it lists that VM, charged", () => {
  const state = stateOf([
    begin(),
    session(2, "host"),
    {
      t: "segment",
      id: 1,
      name: "",
      firstBlock: 0,
      blockCount: 2,
      bytes: 8192,
      creator: 1,
      creatorVm: "vm-b",
    },
  ]);
  expect(state.blocksHeldByVm("vm-b")).toBe(2);
  expect([...(state.clientsByVm.get("vm-b") ?? ["not listed"])]).toEqual([]);
});

test("a segment made before the ids wrapped does not move the next id back past the wrap", () => {
  // The ids wrapped: the next is 5, and a segment from before the wrap (id 2^32 - 10) still lives.
  const old = 2 ** 32 - 10;
  const state = stateOf([
    begin({ nextSegmentId: 5 }),
    session(1),
    { t: "segment", id: old, name: "", firstBlock: 0, blockCount: 1, bytes: 1, creator: 1 },
  ]);
  expect(state.nextSegmentId).toBe(5);
  // One just ahead of the last handed out moves it on.
  state.apply({ t: "segment", id: 5, name: "", firstBlock: 1, blockCount: 1, bytes: 1, creator: 1 });
  expect(state.nextSegmentId).toBe(6);
});

test("an object made before the generations wrapped does not move the last generation back past the wrap", () => {
  const state = stateOf([
    begin({ lastGeneration: 3 }),
    { t: "sync", slot: 1, name: "old", kind: "mutex", generation: 2 ** 32 - 5 },
  ]);
  expect(state.snapshot("r")[0]).toMatchObject({ t: "begin", lastGeneration: 3 });
  state.apply({ t: "sync", slot: 2, name: "new", kind: "mutex", generation: 4 });
  expect(state.snapshot("r")[0]).toMatchObject({ t: "begin", lastGeneration: 4 });
});
