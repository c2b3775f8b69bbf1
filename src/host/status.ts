/**
 * What `ivsh status` shows: the arbiter's view of blocks, segments, clients, VMs and synchronisation
 * objects. The shape is part of the interface (`ivsh status --json` prints it as is).
 */
import { LOCK_OWNER_DIED, LOCK_OWNER_MASK, SLOT_WORDS, SlotWord } from "../region/layout.ts";
import type { ArbiterView } from "./arbiter-view.ts";
import type { SegmentFields } from "./records.ts";
import type { IntegrityStatus } from "./region-guard.ts";

export interface StatusReport {
  epoch: number;
  arbiterPid: number;
  leaseMs: number;
  region: { path: string; size: number; blockSize: number; blockCount: number; slotCount: number };
  blocks: { total: number; free: number; used: number };
  segments: (SegmentFields & { holders: { clientId: number; mode: string }[] })[];
  clients: {
    clientId: number;
    name: string;
    pid: number;
    vm: string;
    connected: boolean;
    idleMs: number;
    blocksAllocated: number;
    grants: number;
  }[];
  vms: { vm: string; clients: number[]; blocksAllocated: number }[];
  sync: {
    slot: number;
    name: string;
    kind: string;
    holders: number[];
    lockOwner: number;
    ownerDied: boolean;
    waiters: number;
  }[];
  /** What the arbiter found overwritten in the region, and put back. */
  integrity: IntegrityStatus;
}

export function statusReport(arbiter: ArbiterView): StatusReport {
  const { state, options } = arbiter;
  const { geometry } = state;
  const now = Date.now();
  const clients = [...state.sessions.values()].map((session) => {
    const live = arbiter.liveness.get(session.clientId);
    return {
      clientId: session.clientId,
      name: session.name,
      pid: session.pid,
      vm: session.vm,
      connected: live?.connection !== undefined,
      idleMs: live ? now - live.lastSeenMs : -1,
      blocksAllocated: state.blocksHeldBy(session.clientId),
      grants: session.grants.size,
    };
  });
  return {
    epoch: state.epoch,
    arbiterPid: process.pid,
    leaseMs: options.leaseMs,
    region: {
      path: options.regionPath,
      size: geometry.regionSize,
      blockSize: geometry.blockSize,
      blockCount: geometry.blockCount,
      slotCount: geometry.slotCount,
    },
    blocks: {
      total: geometry.blockCount,
      free: state.allocator.free,
      used: geometry.blockCount - state.allocator.free,
    },
    segments: [...state.segments.values()].map(({ holders, creatorVm: _vm, ...segment }) => ({
      ...segment,
      holders: [...holders].map(([clientId, mode]) => ({ clientId, mode })),
    })),
    clients,
    vms: vmSummary(clients, state.blocksHeldByVm.bind(state)),
    sync: [...state.syncObjects.values()].map(({ slot, name, kind, holders }) => {
      const lock = arbiter.slots.load(slot, SlotWord.lock);
      let waiters = 0;
      for (let word = 0; word < SLOT_WORDS; word++)
        waiters += arbiter.waits.count(arbiter.slots.index(slot, word));
      const lockOwner = lock & LOCK_OWNER_MASK;
      return {
        slot,
        name,
        kind,
        holders: [...holders],
        lockOwner,
        ownerDied: (lock & LOCK_OWNER_DIED) !== 0,
        waiters,
      };
    }),
    integrity: arbiter.guard.status,
  };
}

function vmSummary(clients: StatusReport["clients"], blocksOf: (vm: string) => number): StatusReport["vms"] {
  const byVm = new Map<string, number[]>();
  for (const client of clients) byVm.set(client.vm, [...(byVm.get(client.vm) ?? []), client.clientId]);
  return [...byVm].map(([vm, ids]) => ({ vm, clients: ids, blocksAllocated: blocksOf(vm) }));
}
