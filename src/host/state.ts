/**
 * The arbiter's authoritative bookkeeping: sessions, segments with their holders, and named
 * synchronisation slots. No sockets here and no timers: the server calls in, this decides, journals the
 * effect and applies it. Every change goes through `commit`, which applies a record and appends it to the
 * journal, and replay after a restart applies the same records: one code path for both.
 */
import { randomBytes } from "node:crypto";
import { failure } from "../errors.ts";
import { type AccessModeName, MAX_NAME_BYTES, SyncCreate } from "../protocol/messages.ts";
import type { SegmentFields } from "../protocol/status-report.ts";
import { type Geometry, MAX_CLIENT_ID, type SlotKindName } from "../region/layout.ts";
import { BlockAllocator } from "./allocator.ts";
import { CompactMap, idShard, nameShard } from "./compact-map.ts";
import type { Released } from "./oplog.ts";
import { modeConflict } from "./permissions.ts";
import {
  type Journal,
  type SessionFields,
  STATE_FORMAT,
  type StateRecord,
  type SyncFields,
} from "./records.ts";

export interface Limits {
  /** Blocks one client may have allocated at once (0 = no limit). */
  clientQuotaBlocks: number;
  /** Blocks all clients of one VM may have allocated at once (0 = no limit). */
  vmQuotaBlocks: number;
}

/** What the arbiter does to slot memory; the region implements it, tests fake it. */
export interface SlotMemory {
  initialise(slot: number, kind: SlotKindName, generation: number): void;
  clear(slot: number): void;
  /** Marks the slot's lock words owned by `clientId` owner-died; true if there were any. */
  releaseDeadOwner(slot: number, kind: SlotKindName, clientId: number): boolean;
}

export interface Session extends SessionFields {
  /** One client may hold a great many grants, or a few (see ./compact-map.ts). */
  grants: CompactMap<number, AccessModeName>;
  slots: Set<number>;
  replies: Map<number, { op: string; reply: Record<string, number | string> }>;
}

export interface Segment extends SegmentFields {
  creatorVm: string;
  holders: CompactMap<number, AccessModeName>;
}

export interface SyncObject extends SyncFields {
  holders: Set<number>;
}

const REPLY_CACHE_SIZE = 64;

export class ArbiterState {
  readonly sessions = new Map<number, Session>();
  /** Sharded, as 100 000 segments in one Map stalled every request behind its rehashes. */
  readonly segments = new CompactMap<number, Segment>(idShard);
  readonly syncObjects = new Map<number, SyncObject>();
  /** Each VM's sessions, kept as sessions come and go so a status need not group them. */
  readonly clientsByVm = new Map<string, Set<number>>();
  readonly allocator: BlockAllocator;
  epoch = 0;
  nextClientId = 1;
  nextSegmentId = 1;
  private readonly segmentsByName = new CompactMap<string, Segment>(nameShard);
  /** For resuming hellos: a thousand clients reconnecting after a restart must not scan each other. */
  private readonly sessionsByToken = new Map<string, Session>();
  private readonly syncByName = new Map<string, SyncObject>();
  /** Highest slot generation handed out: generations never repeat, also across restarts. */
  private lastGeneration = 0;
  private readonly blocksByClient = new Map<number, number>();
  private readonly blocksByVm = new Map<string, number>();
  private journal: Journal | undefined;

  constructor(
    readonly geometry: Geometry,
    readonly limits: Limits,
    private readonly slots: SlotMemory,
  ) {
    this.allocator = new BlockAllocator(geometry.blockCount);
  }

  /** Starts journaling; records applied before this (a replay) are not written again. */
  attachJournal(journal: Journal): void {
    this.journal = journal;
  }

  // ---- sessions ----

  openSession(name: string, pid: number, vm: string): Session {
    const clientId = this.nextClientId;
    // Lock words hold a client id in 30 bits; ids are never reused, so they can run out (after 2^30).
    if (clientId > MAX_CLIENT_ID)
      throw failure(
        "NoSpace",
        "open a session",
        "every client id was used (start the arbiter with a new --state)",
      );
    const token = randomBytes(16).toString("hex");
    this.commit({ t: "session", clientId, token, name: truncateUtf8(name, MAX_NAME_BYTES), pid, vm });
    return this.session(clientId);
  }

  sessionByToken(token: string): Session | undefined {
    return this.sessionsByToken.get(token);
  }

  session(clientId: number): Session {
    const session = this.sessions.get(clientId);
    if (!session) throw failure("SessionUnknown", `find client ${clientId}`, "it has no session");
    return session;
  }

  /**
   * Ends a session and gives back all it held: grants (freeing segments nobody else holds), slot holds,
   * and locks (marked owner-died). Returns the slots whose waiters must be woken to notice, and what was
   * released (for the operator's log).
   */
  endSession(clientId: number): { wake: number[]; released: Released } {
    const session = this.session(clientId);
    const wake = new Set<number>(session.slots);
    const released: Released = { grants: session.grants.size, syncHolds: session.slots.size, ownerDied: [] };
    for (const object of this.syncObjects.values())
      if (this.slots.releaseDeadOwner(object.slot, object.kind, clientId)) {
        wake.add(object.slot);
        released.ownerDied.push({ name: object.name, kind: object.kind });
      }
    for (const segmentId of [...session.grants.keys()]) this.dropGrant(session, segmentId);
    for (const slot of [...session.slots]) this.dropSyncHold(session, slot);
    this.commit({ t: "session-end", clientId });
    return { wake: [...wake], released };
  }

  // ---- segments ----

  allocate(session: Session, bytes: number, blocks: number, mode: AccessModeName, name: string): Segment {
    const what = `allocate ${name ? `segment '${name}'` : "a segment"}`;
    const blockCount = this.blocksFor(bytes, blocks, what);
    checkName(name, what, true);
    if (name && this.segmentsByName.has(name))
      throw failure("AlreadyExists", what, "a segment by that name exists (open it instead)");
    this.checkQuota(session, blockCount, what);
    const run = this.allocator.choose(blockCount);
    const id = this.nextSegmentId;
    const segmentBytes = bytes || blockCount * this.geometry.blockSize;
    this.commit({ t: "segment", id, name, ...run, bytes: segmentBytes, creator: session.clientId });
    this.commit({ t: "grant", segmentId: id, clientId: session.clientId, mode });
    return this.segments.get(id)!;
  }

  open(session: Session, name: string, mode: AccessModeName): Segment {
    const what = `open segment '${name}' ${mode}`;
    checkName(name, what, false);
    const segment = this.segmentsByName.get(name);
    if (!segment) throw failure("NotFound", what, "no segment has that name (allocate it first)");
    if (segment.holders.has(session.clientId))
      throw failure("InvalidArgument", what, "this client already holds it");
    const conflict = modeConflict(mode, segment.holders.values());
    if (conflict) throw failure("PermissionDenied", what, conflict);
    this.commit({ t: "grant", segmentId: segment.id, clientId: session.clientId, mode });
    return segment;
  }

  /** Drops the session's grant; true when that was the last holder and the blocks went back. */
  free(session: Session, segmentId: number): boolean {
    if (!session.grants.has(segmentId))
      throw failure(
        "NotHeld",
        `free segment ${segmentId}`,
        "this client holds no grant on it (double free?)",
      );
    return this.dropGrant(session, segmentId);
  }

  // ---- synchronisation slots ----

  openSync(
    session: Session,
    name: string,
    kind: SlotKindName,
    create: number,
  ): { object: SyncObject; created: boolean } {
    const what = `open ${kind} '${name}'`;
    checkName(name, what, false);
    let object = this.syncByName.get(name);
    if (object && object.kind !== kind)
      throw failure("InvalidArgument", what, `'${name}' is a ${object.kind}`);
    if (object && create === SyncCreate.createNew) throw failure("AlreadyExists", what, "it exists already");
    if (!object && create === SyncCreate.openExisting)
      throw failure("NotFound", what, "nothing by that name exists (create it first)");
    const created = !object;
    if (!object) object = this.createSync(name, kind, what);
    if (!object.holders.has(session.clientId))
      this.commit({ t: "sync-hold", slot: object.slot, clientId: session.clientId });
    return { object, created };
  }

  closeSync(session: Session, slot: number): void {
    if (!session.slots.has(slot))
      throw failure("NotHeld", `close slot ${slot}`, "this client has not opened it");
    this.dropSyncHold(session, slot);
  }

  /** The slot a client may wait on or wake: it must have opened it. */
  heldSlot(session: Session, slot: number): SyncObject {
    const object = this.syncObjects.get(slot);
    if (!object || !session.slots.has(slot))
      throw failure(
        "NotHeld",
        `use slot ${slot}`,
        "this client has not opened a synchronisation object there",
      );
    return object;
  }

  // ---- reply cache ----

  rememberReply(
    session: Session,
    requestId: number,
    op: string,
    reply: Record<string, number | string>,
  ): void {
    this.commit({ t: "reply", clientId: session.clientId, requestId, op, reply });
  }

  cachedReply(session: Session, requestId: number, op: string): Record<string, number | string> | undefined {
    const cached = session.replies.get(requestId);
    return cached && cached.op === op ? cached.reply : undefined;
  }

  // ---- records ----

  /** Applies a record and journals it (the only way live state changes). */
  commit(record: StateRecord): void {
    this.apply(record);
    this.journal?.append(record);
  }

  apply(record: StateRecord): void {
    switch (record.t) {
      case "begin":
        this.epoch = record.epoch;
        this.nextClientId = record.nextClientId;
        this.nextSegmentId = record.nextSegmentId;
        this.lastGeneration = record.lastGeneration ?? 0;
        return;
      case "epoch":
        this.epoch = record.epoch;
        return;
      case "session": {
        const session: Session = {
          ...withoutTag(record),
          grants: new CompactMap(idShard),
          slots: new Set(),
          replies: new Map(),
        };
        this.sessions.set(record.clientId, session);
        this.sessionsByToken.set(record.token, session);
        this.nextClientId = Math.max(this.nextClientId, record.clientId + 1);
        this.vmClients(record.vm).add(record.clientId);
        return;
      }
      case "session-end":
        this.applySessionEnd(record.clientId);
        return;
      case "segment":
        this.applySegment(record);
        return;
      case "grant":
        this.applyGrant(record.segmentId, record.clientId, record.mode);
        return;
      case "ungrant":
        this.segmentOf(record.segmentId).holders.delete(record.clientId);
        this.sessions.get(record.clientId)?.grants.delete(record.segmentId);
        return;
      case "segment-free":
        this.applySegmentFree(record.segmentId);
        return;
      case "sync":
        this.applySync(record);
        return;
      case "sync-hold":
        this.syncOf(record.slot).holders.add(record.clientId);
        this.sessions.get(record.clientId)?.slots.add(record.slot);
        return;
      case "sync-release":
        this.syncOf(record.slot).holders.delete(record.clientId);
        this.sessions.get(record.clientId)?.slots.delete(record.slot);
        return;
      case "sync-free": {
        const object = this.syncOf(record.slot);
        this.syncObjects.delete(object.slot);
        this.syncByName.delete(object.name);
        return;
      }
      case "reply":
        this.applyReply(record);
        return;
    }
  }

  /** Records that recreate the current state from nothing: the body of a compacted state file. */
  snapshot(region: string): StateRecord[] {
    const { geometry, epoch, nextClientId, nextSegmentId, lastGeneration } = this;
    const records: StateRecord[] = [
      {
        t: "begin",
        format: STATE_FORMAT,
        region,
        geometry,
        epoch,
        nextClientId,
        nextSegmentId,
        lastGeneration,
      },
    ];
    for (const { grants, slots, replies, ...session } of this.sessions.values())
      records.push({ t: "session", ...session });
    for (const { holders, creatorVm, ...segment } of this.segments.values()) {
      records.push({ t: "segment", ...segment });
      for (const [clientId, mode] of holders)
        records.push({ t: "grant", segmentId: segment.id, clientId, mode });
    }
    for (const { holders, ...object } of this.syncObjects.values()) {
      records.push({ t: "sync", ...object });
      for (const clientId of holders) records.push({ t: "sync-hold", slot: object.slot, clientId });
    }
    for (const session of this.sessions.values())
      for (const [requestId, { op, reply }] of session.replies)
        records.push({ t: "reply", clientId: session.clientId, requestId, op, reply });
    return records;
  }

  blocksHeldBy(clientId: number): number {
    return this.blocksByClient.get(clientId) ?? 0;
  }

  blocksHeldByVm(vm: string): number {
    return this.blocksByVm.get(vm) ?? 0;
  }

  // ---- internals ----

  private blocksFor(bytes: number, blocks: number, what: string): number {
    if (bytes > 0 === blocks > 0)
      throw failure(
        "InvalidArgument",
        what,
        "give either a size in bytes or a number of blocks, not both or neither",
      );
    const count = blocks || Math.ceil(bytes / this.geometry.blockSize);
    if (count > this.geometry.blockCount)
      throw failure(
        "NoSpace",
        what,
        `it needs ${count} blocks of ${this.geometry.blockSize} bytes and the whole region has ${this.geometry.blockCount}`,
      );
    return count;
  }

  private checkQuota(session: Session, blockCount: number, what: string): void {
    const { clientQuotaBlocks, vmQuotaBlocks } = this.limits;
    const clientBlocks = this.blocksHeldBy(session.clientId);
    if (clientQuotaBlocks > 0 && clientBlocks + blockCount > clientQuotaBlocks)
      throw failure(
        "QuotaExceeded",
        what,
        `client ${session.clientId} holds ${clientBlocks} blocks and its quota is ${clientQuotaBlocks} (free a segment or raise --client-quota)`,
      );
    const vmBlocks = this.blocksHeldByVm(session.vm);
    if (vmQuotaBlocks > 0 && vmBlocks + blockCount > vmQuotaBlocks)
      throw failure(
        "QuotaExceeded",
        what,
        `VM '${session.vm}' holds ${vmBlocks} blocks and its quota is ${vmQuotaBlocks} (free a segment or raise --vm-quota)`,
      );
  }

  private dropGrant(session: Session, segmentId: number): boolean {
    this.commit({ t: "ungrant", segmentId, clientId: session.clientId });
    if (this.segmentOf(segmentId).holders.size > 0) return false;
    this.commit({ t: "segment-free", segmentId });
    return true;
  }

  private dropSyncHold(session: Session, slot: number): void {
    this.commit({ t: "sync-release", slot, clientId: session.clientId });
    if (this.syncOf(slot).holders.size > 0) return;
    this.slots.clear(slot);
    this.commit({ t: "sync-free", slot });
  }

  private createSync(name: string, kind: SlotKindName, what: string): SyncObject {
    const slot = this.freeSlot();
    if (slot === undefined)
      throw failure(
        "NoSpace",
        what,
        `all ${this.geometry.slotCount} slots are in use (start the arbiter with more --slots)`,
      );
    const generation = (this.lastGeneration + 1) >>> 0 || 1;
    this.slots.initialise(slot, kind, generation);
    this.commit({ t: "sync", slot, name, kind, generation });
    return this.syncOf(slot);
  }

  private freeSlot(): number | undefined {
    for (let slot = 0; slot < this.geometry.slotCount; slot++) if (!this.syncObjects.has(slot)) return slot;
    return undefined;
  }

  private vmClients(vm: string): Set<number> {
    const clients = this.clientsByVm.get(vm) ?? new Set<number>();
    this.clientsByVm.set(vm, clients);
    return clients;
  }

  private applySessionEnd(clientId: number): void {
    const session = this.sessions.get(clientId);
    this.sessions.delete(clientId);
    if (!session) return;
    this.sessionsByToken.delete(session.token);
    const clients = this.vmClients(session.vm);
    clients.delete(clientId);
    if (clients.size === 0) this.clientsByVm.delete(session.vm);
  }

  private applySegment(record: Extract<StateRecord, { t: "segment" }>): void {
    this.allocator.claim(record);
    const creatorVm = this.sessions.get(record.creator)?.vm ?? "";
    const segment: Segment = { ...withoutTag(record), creatorVm, holders: new CompactMap(idShard) };
    this.segments.set(record.id, segment);
    if (record.name) this.segmentsByName.set(record.name, segment);
    this.nextSegmentId = Math.max(this.nextSegmentId, record.id + 1);
    this.addCharge(segment, record.blockCount);
  }

  private applySegmentFree(segmentId: number): void {
    const segment = this.segmentOf(segmentId);
    this.allocator.release(segment);
    this.segments.delete(segmentId);
    if (segment.name) this.segmentsByName.delete(segment.name);
    this.addCharge(segment, -segment.blockCount);
  }

  private addCharge(segment: Segment, blocks: number): void {
    this.blocksByClient.set(segment.creator, this.blocksHeldBy(segment.creator) + blocks);
    this.blocksByVm.set(segment.creatorVm, this.blocksHeldByVm(segment.creatorVm) + blocks);
  }

  private applyGrant(segmentId: number, clientId: number, mode: AccessModeName): void {
    this.segmentOf(segmentId).holders.set(clientId, mode);
    this.sessions.get(clientId)?.grants.set(segmentId, mode);
  }

  private applySync(record: Extract<StateRecord, { t: "sync" }>): void {
    const object: SyncObject = { ...withoutTag(record), holders: new Set() };
    this.syncObjects.set(record.slot, object);
    this.syncByName.set(record.name, object);
    this.lastGeneration = Math.max(this.lastGeneration, record.generation);
  }

  private applyReply(record: Extract<StateRecord, { t: "reply" }>): void {
    const replies = this.sessions.get(record.clientId)?.replies;
    if (!replies) return;
    replies.set(record.requestId, { op: record.op, reply: record.reply });
    // Maps iterate in insertion order: the first key is the oldest reply.
    if (replies.size > REPLY_CACHE_SIZE) replies.delete(replies.keys().next().value!);
  }

  private segmentOf(segmentId: number): Segment {
    const segment = this.segments.get(segmentId);
    if (!segment) throw failure("NotFound", `find segment ${segmentId}`, "no segment has that id");
    return segment;
  }

  private syncOf(slot: number): SyncObject {
    const object = this.syncObjects.get(slot);
    if (!object) throw failure("NotFound", `find slot ${slot}`, "no synchronisation object lives there");
    return object;
  }
}

/** At most `maxBytes` of UTF-8, cut at a character boundary. */
function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, "utf8");
  if (bytes.byteLength <= maxBytes) return text;
  let end = maxBytes;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // do not split a multi-byte character
  return bytes.subarray(0, end).toString("utf8");
}

function checkName(name: string, what: string, optional: boolean): void {
  if (!name && !optional) throw failure("InvalidArgument", what, "the name is empty");
  if (Buffer.byteLength(name) > MAX_NAME_BYTES)
    throw failure("InvalidArgument", what, `the name is longer than ${MAX_NAME_BYTES} bytes`);
}

function withoutTag<T extends { t: string }>(record: T): Omit<T, "t"> {
  const { t: _tag, ...rest } = record;
  return rest;
}
