/**
 * What `ivsh status` shows: the arbiter's view of blocks, segments, clients, VMs and synchronisation
 * objects. The shape is part of the interface (`ivsh status --json` prints it as is).
 *
 * Every list is cut at the request's `limit` and every total is kept up to date as state changes, so a
 * status costs O(limit), not O(state): an arbiter holding 100 000 segments answers a summary as fast as
 * an empty one, and its reply always fits a frame when the limit is modest.
 */
import type { Request } from "../protocol/messages.ts";
import { LOCK_OWNER_DIED, LOCK_OWNER_MASK, SLOT_WORDS, SlotWord } from "../region/layout.ts";
import type { ArbiterView } from "./arbiter-view.ts";
import type { SegmentFields } from "./records.ts";
import type { IntegrityStatus } from "./region-guard.ts";
import type { Session } from "./state.ts";

export interface StatusClient {
  clientId: number;
  name: string;
  pid: number;
  vm: string;
  connected: boolean;
  idleMs: number;
  blocksAllocated: number;
  grants: number;
}

export interface StatusReport {
  epoch: number;
  arbiterPid: number;
  leaseMs: number;
  /** Milliseconds since this arbiter process started serving. */
  uptimeMs: number;
  region: { path: string; size: number; blockSize: number; blockCount: number; slotCount: number };
  blocks: { total: number; free: number; used: number };
  /** The session that asked, and its VM's share (so a tool can leave its own session out). */
  requester: { clientId: number; vm: string; vmClients: number; vmBlocksAllocated: number };
  /** State journal compactions taken over since this arbiter process started. */
  compactions: number;
  /** How many there are of each; the lists below hold at most the request's `limit` of them. */
  totals: { segments: number; clients: number; connected: number; vms: number; sync: number };
  /** `holders` lists at most `limit` of the segment's `holderCount` holders. */
  segments: (SegmentFields & { holderCount: number; holders: { clientId: number; mode: string }[] })[];
  clients: StatusClient[];
  /** Per VM: its client count, at most `limit` of its client ids, and the blocks its clients allocated. */
  vms: { vm: string; clients: number[]; clientCount: number; blocksAllocated: number }[];
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

export function statusReport(
  arbiter: ArbiterView,
  request: Request<"status">,
  requester: { clientId: number; vm: string },
): StatusReport {
  const { state, options } = arbiter;
  const { geometry } = state;
  const { limit } = request;
  return {
    epoch: state.epoch,
    arbiterPid: process.pid,
    leaseMs: options.leaseMs,
    uptimeMs: Math.round(performance.now() - arbiter.startedMs),
    requester: {
      ...requester,
      vmClients: state.clientsByVm.get(requester.vm)?.size ?? 0,
      vmBlocksAllocated: state.blocksHeldByVm(requester.vm),
    },
    compactions: arbiter.compactions,
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
    totals: {
      segments: state.segments.size,
      clients: state.sessions.size,
      connected: arbiter.connectedCount,
      vms: state.clientsByVm.size,
      sync: state.syncObjects.size,
    },
    segments: first(state.segments.values(), limit).map(({ holders, creatorVm: _vm, ...segment }) => ({
      ...segment,
      holderCount: holders.size,
      holders: first(holders.entries(), limit).map(([clientId, mode]) => ({ clientId, mode })),
    })),
    clients: chosenClients(arbiter, request).map((session) => describeClient(arbiter, session)),
    vms: first(state.clientsByVm.entries(), limit).map(([vm, ids]) => ({
      vm,
      clients: first(ids.values(), limit),
      clientCount: ids.size,
      blocksAllocated: state.blocksHeldByVm(vm),
    })),
    sync: first(state.syncObjects.values(), limit).map(({ slot, name, kind, holders }) => {
      const lock = arbiter.slots.load(slot, SlotWord.lock);
      let waiters = 0;
      for (let word = 0; word < SLOT_WORDS; word++)
        waiters += arbiter.waits.count(arbiter.slots.index(slot, word));
      return {
        slot,
        name,
        kind,
        holders: first(holders.values(), limit),
        lockOwner: lock & LOCK_OWNER_MASK,
        ownerDied: (lock & LOCK_OWNER_DIED) !== 0,
        waiters,
      };
    }),
    integrity: arbiter.guard.status,
  };
}

/** One client when the request names it (whether it is alive, cheaply), else the first `limit`. */
function chosenClients(arbiter: ArbiterView, { limit, onlyClient }: Request<"status">): Session[] {
  if (onlyClient === 0) return first(arbiter.state.sessions.values(), limit);
  const session = arbiter.state.sessions.get(onlyClient);
  return session && limit > 0 ? [session] : [];
}

function describeClient(arbiter: ArbiterView, session: Session): StatusClient {
  const live = arbiter.liveness.get(session.clientId);
  return {
    clientId: session.clientId,
    name: session.name,
    pid: session.pid,
    vm: session.vm,
    connected: live?.connection !== undefined,
    idleMs: live ? Date.now() - live.lastSeenMs : -1,
    blocksAllocated: arbiter.state.blocksHeldBy(session.clientId),
    grants: session.grants.size,
  };
}

/** The first `count` items, without walking the rest. */
function first<T>(items: Iterator<T>, count: number): T[] {
  const taken: T[] = [];
  for (let item = items.next(); !item.done && taken.length < count; item = items.next())
    taken.push(item.value);
  return taken;
}
