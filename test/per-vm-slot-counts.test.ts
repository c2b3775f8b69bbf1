/**
 * --vm-slots counts each VM's slots as holds are taken and given up (src/host/recorded-state.ts keeps them
 * as they change, not recounted per request). A property check in one process: random sessions of a few
 * VMs open and close mutexes, condvars and channels, end, have a change undone (a journal write that
 * failed: memory replayed from the journal), and restart (from the journal, or from its compacted
 * snapshot, with the limit lowered); after each step the counts must equal those recomputed from every
 * slot's holders, and no VM may hold more slots than its limit let it take.
 */
import { expect, test } from "bun:test";
import { isIvshError } from "../src/errors.ts";
import type { StateRecord } from "../src/host/records.ts";
import { ArbiterState, type SlotMemory } from "../src/host/state.ts";
import { SyncCreate } from "../src/protocol/messages.ts";
import { computeGeometry, type SlotKindName } from "../src/region/layout.ts";
import { Prng } from "./helpers/prng.ts";

const noSlots: SlotMemory = { initialise() {}, clear() {}, releaseDeadOwner: () => false };
const GEOMETRY = computeGeometry(1 << 20, 4096, 12);
const VMS = ["host", "vm-a", "vm-b"];
const NAMES: [string, SlotKindName][] = [
  ["m1", "mutex"],
  ["m2", "mutex"],
  ["m3", "mutex"],
  ["c1", "condvar"],
  ["c2", "condvar"],
  ["channel:x", "channel"],
  ["channel:y", "channel"],
  ["m4", "mutex"],
];

/** An arbiter's state with its journal kept in memory, replayed as a restart would. */
function fromRecords(records: StateRecord[], vmSlots: number) {
  const journal: StateRecord[] = [...records];
  const state = new ArbiterState(GEOMETRY, { clientQuotaBlocks: 0, vmQuotaBlocks: 0, vmSlots }, noSlots);
  for (const record of records) state.apply(record);
  state.attachJournal({ append: (record) => journal.push(record) });
  return { state, journal };
}

/** What the counts must be, from scratch: per VM, the slots any of its sessions holds. */
function recount(state: ArbiterState): Map<string, Set<number>> {
  const held = new Map<string, Set<number>>();
  for (const object of state.syncObjects.values())
    for (const clientId of object.holders) {
      const vm = state.session(clientId).vm;
      held.set(vm, (held.get(vm) ?? new Set()).add(object.slot));
    }
  return held;
}

function expectCountsMatch(state: ArbiterState, step: string): void {
  const held = recount(state);
  for (const vm of VMS) {
    const slots = held.get(vm) ?? new Set<number>();
    expect({ step, vm, count: state.slotsHeldByVm(vm) }).toEqual({ step, vm, count: slots.size });
    for (let slot = 0; slot < GEOMETRY.slotCount; slot++)
      expect({ step, vm, slot, held: state.vmHoldsSlot(vm, slot) }).toEqual({
        step,
        vm,
        slot,
        held: slots.has(slot),
      });
  }
  for (const session of state.sessions.values())
    for (const slot of session.slots)
      expect(state.syncObjects.get(slot)?.holders.has(session.clientId)).toBe(true);
}

test("per-VM slot counts equal those recomputed from the holders through opens, closes, ends, undone changes and restarts", () => {
  for (let seed = 1; seed <= 40; seed++) {
    const rng = new Prng(seed);
    let limit = rng.range(1, 4);
    let { state, journal } = fromRecords(
      [
        {
          t: "begin",
          format: 1,
          region: "r",
          geometry: GEOMETRY,
          epoch: 1,
          nextClientId: 1,
          nextSegmentId: 1,
        },
      ],
      limit,
    );
    // Past a lowered limit a VM keeps what it held: it may only not take more.
    const allowed = new Map<string, number>();
    for (let step = 0; step < 300; step++) {
      const sessions = [...state.sessions.values()];
      const action = rng.weighted({ session: 2, open: 8, close: 4, end: 2, undo: 1, restart: 1 });
      const label = `seed ${seed} step ${step} ${action}`;
      const before = journal.length;
      if (action === "session" || sessions.length === 0) state.openSession("s", 1, rng.pick(VMS));
      else if (action === "open") {
        const session = rng.pick(sessions);
        const [name, kind] = rng.pick(NAMES);
        const heldBefore = state.slotsHeldByVm(session.vm);
        try {
          state.openSync(session, name, kind, SyncCreate.openOrCreate);
        } catch (error) {
          if (!isIvshError(error, "QuotaExceeded") && !isIvshError(error, "NoSpace")) throw error;
          if (isIvshError(error, "QuotaExceeded")) expect(heldBefore).toBeGreaterThanOrEqual(limit);
        }
        const ceiling = Math.max(limit, allowed.get(session.vm) ?? 0);
        expect(state.slotsHeldByVm(session.vm)).toBeLessThanOrEqual(ceiling);
      } else if (action === "close") {
        const session = rng.pick(sessions);
        const slots = [...session.slots];
        if (slots.length > 0) state.closeSync(session, rng.pick(slots), () => undefined);
      } else if (action === "end") state.endSession(rng.pick(sessions).clientId);
      else if (action === "undo" && journal.length > 1) {
        // A change the journal could not write: memory is replayed from what it holds (Arbiter.undoUnrecorded).
        state.endSession(rng.pick(sessions).clientId);
        journal.splice(before);
        state.reload(journal);
      } else if (action === "restart") {
        limit = rng.range(1, 4);
        const records = rng.chance(0.5) ? journal : state.snapshot("r");
        ({ state, journal } = fromRecords(records, limit));
        for (const vm of VMS) allowed.set(vm, state.slotsHeldByVm(vm));
      }
      expectCountsMatch(state, label);
    }
  }
});
