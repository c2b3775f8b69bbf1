/**
 * What `ivsh status` shows: the arbiter's view of blocks, segments, clients, VMs and synchronisation
 * objects. The shape is part of the interface (`ivsh status --json` prints it as is).
 *
 * Every list is cut at the request's `limit` and every total is kept up to date as state changes, so a
 * status costs O(limit), not O(state): an arbiter holding 100 000 segments answers a summary as fast as
 * an empty one, and its reply always fits a frame when the limit is modest. Transfers, whose state the
 * ends write in their slots, are counted among the channels that may hold one (./transfers.ts).
 */
import { failure } from "../errors.ts";
import { frameBytes } from "../protocol/codec.ts";
import { MAX_FRAME_BYTES, messages, type Request } from "../protocol/messages.ts";
import type { StatusClient, StatusReport } from "../protocol/status-report.ts";
import { LOCK_OWNER_DIED, LOCK_OWNER_MASK, SLOT_WORDS, SlotWord } from "../region/layout.ts";
import { formatBytes } from "../units.ts";
import { VERSION } from "../version.ts";
import type { ArbiterView } from "./arbiter-view.ts";
import { arbiterIdentity } from "./identity.ts";
import type { Session, SyncObject } from "./recorded-state.ts";

export function statusReport(
  arbiter: ArbiterView,
  request: Request<"status">,
  requester: { clientId: number; vm: string },
): StatusReport {
  const { state, options } = arbiter;
  const { geometry } = state;
  const { limit } = request;
  const transfers = arbiter.transfers.report(limit);
  return {
    epoch: state.epoch,
    ...arbiterIdentity,
    arbiterVersion: VERSION,
    leaseMs: options.leaseMs,
    uptimeMs: Math.round(performance.now() - arbiter.startedMs),
    requester: {
      ...requester,
      vmClients: state.clientsByVm.get(requester.vm)?.size ?? 0,
      vmBlocksAllocated: state.blocksHeldByVm(requester.vm),
    },
    limits: {
      clientQuotaBlocks: options.clientQuotaBlocks,
      vmQuotaBlocks: options.vmQuotaBlocks,
      vmSlots: options.vmSlots ?? 0,
      vmConnections: options.vmConnections ?? 0,
    },
    compactions: arbiter.compactions,
    ...journalOutage(arbiter),
    ...(arbiter.problems.length > 0 ? { problems: [...arbiter.problems] } : {}),
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
      transfers: transfers.total,
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
      slotsHeld: state.slotsHeldByVm(vm),
      connections: arbiter.connections.vmConnections(vm),
    })),
    sync: first(state.syncObjects.values(), limit).map((object) =>
      describeSyncObject(arbiter, object, limit),
    ),
    transfers: transfers.transfers,
    integrity: arbiter.guard.status,
  };
}

/** Only while the journal refuses changes: what an operator who runs `ivsh status` then must see first. */
function journalOutage(arbiter: ArbiterView): Pick<StatusReport, "journalOutage"> {
  const outage = arbiter.journalOutage.report();
  return outage ? { journalOutage: outage } : {};
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
    idleMs: live ? Math.round(performance.now() - live.lastSeenMs) : -1,
    blocksAllocated: arbiter.state.blocksHeldBy(session.clientId),
    grants: session.grants.size,
  };
}

/** A mutex, condvar or channel slot: its holders, its lock word as it is now, and who waits on its words. */
function describeSyncObject(
  arbiter: ArbiterView,
  object: SyncObject,
  limit: number,
): StatusReport["sync"][number] {
  const { slot, name, kind, holders } = object;
  const lock = arbiter.slots.load(slot, SlotWord.lock);
  let waiters = 0;
  for (let word = 0; word < SLOT_WORDS; word++)
    waiters += arbiter.waits.count(arbiter.slots.index(slot, word));
  return {
    slot,
    name,
    kind,
    holders: first(holders.values(), limit),
    holderCount: holders.size,
    lockOwner: lock & LOCK_OWNER_MASK,
    ownerDied: (lock & LOCK_OWNER_DIED) !== 0,
    waiters,
  };
}

/** The first `count` items, without walking the rest. */
function first<T>(items: Iterator<T>, count: number): T[] {
  const taken: T[] = [];
  for (let item = items.next(); !item.done && taken.length < count; item = items.next())
    taken.push(item.value);
  return taken;
}

/**
 * The report as the status reply's text. One too long for a frame (a large --limit over a large state) is
 * refused saying which limit fits: the codec alone said "Failed to encode op 11", and nothing to do.
 */
export function statusJson(report: StatusReport): string {
  const json = JSON.stringify(report);
  const bytes = frameBytes(messages.status.reply, { json });
  if (bytes <= MAX_FRAME_BYTES) return json;
  const { segments, clients, vms, sync, transfers } = report;
  const listed = Math.max(segments.length, clients.length, vms.length, sync.length, transfers.length);
  // Entries are of about one size: scaled down to the frame, with room for ones longer than the average.
  const fits = Math.floor((0.8 * listed * MAX_FRAME_BYTES) / bytes);
  throw failure(
    "InvalidArgument",
    "report the status",
    `the report would be ${formatBytes(bytes)}, over the ${formatBytes(MAX_FRAME_BYTES)} one reply may hold: ` +
      `pass a smaller --limit (--limit ${fits} fits)`,
  );
}
