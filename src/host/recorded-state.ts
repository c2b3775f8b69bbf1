/**
 * The arbiter's bookkeeping as its records make it: sessions, segments with their holders, named
 * synchronisation slots, and the blocks each creator is charged for. `apply` is the only code that changes
 * it, for a live request and a replay alike, and `snapshot` turns it back into records. It decides
 * nothing and touches no slot memory: what a request may do is ./state.ts's, which commits the records.
 */
import { failure } from "../errors.ts";
import type { AccessModeName } from "../protocol/messages.ts";
import type { SegmentFields } from "../protocol/status-report.ts";
import { type Geometry, isChannelSlotName } from "../region/layout.ts";
import { BlockAllocator } from "./allocator.ts";
import { CompactMap, idShard, nameShard } from "./compact-map.ts";
import { type SessionFields, STATE_FORMAT, type StateRecord, type SyncFields } from "./records.ts";

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

/** The name of the channel slot whose ring `segmentName` is ('channel:NAME' of 'channel:NAME:T', T from 1). */
export function ringChannelSlotName(segmentName: string): string | undefined {
  if (!isChannelSlotName(segmentName)) return undefined;
  const colon = segmentName.lastIndexOf(":");
  return /^[1-9][0-9]*$/.test(segmentName.slice(colon + 1)) ? segmentName.slice(0, colon) : undefined;
}

/** Replies a session keeps for re-sent requests (docs/protocol.md section 11), the newest first to stay. */
export const REPLY_CACHE_SIZE = 64;

export class RecordedState {
  readonly sessions = new Map<number, Session>();
  /** Sharded, as 100 000 segments in one Map stalled every request behind its rehashes. */
  readonly segments = new CompactMap<number, Segment>(idShard);
  readonly syncObjects = new Map<number, SyncObject>();
  /** The channel slots among them, in the same order: a status lists transfers without walking every object. */
  readonly channels = new Map<number, SyncObject>();
  /**
   * Each VM's sessions, kept as sessions come and go so a status need not group them; also a VM with none
   * left while blocks are charged to it (a segment its creator left to another VM's holder).
   */
  readonly clientsByVm = new Map<string, Set<number>>();
  /** Replaced (not cleared) by `reload`, which starts over from nothing. */
  allocator: BlockAllocator;
  epoch = 0;
  nextClientId = 1;
  nextSegmentId = 1;
  protected readonly segmentsByName = new CompactMap<string, Segment>(nameShard);
  /** For resuming hellos: a thousand clients reconnecting after a restart must not scan each other. */
  private readonly sessionsByToken = new Map<string, Session>();
  protected readonly syncByName = new Map<string, SyncObject>();
  /** Highest slot generation handed out: generations never repeat, also across restarts. */
  protected lastGeneration = 0;
  private readonly blocksByClient = new Map<number, number>();
  private readonly blocksByVm = new Map<string, number>();
  /** Per VM, the slots its sessions hold and how many of them hold each: a slot counts once per VM. */
  private readonly slotHoldsByVm = new Map<string, Map<number, number>>();
  /**
   * Per channel slot name, its live rings (segments 'channel:NAME:T'), kept as segments come and go: a
   * transfer is published in a ring allocated first, so a status counts transfers among these channels
   * (./transfers.ts), not among every channel.
   */
  private readonly ringsByChannel = new Map<string, number>();
  /** Those channels, live, by slot: what a status walks (a name's lookup and a sort cost 300 ns a channel). */
  readonly ringChannels = new Map<number, SyncObject>();

  constructor(readonly geometry: Geometry) {
    this.allocator = new BlockAllocator(geometry.blockCount);
  }

  /**
   * Forgets everything and applies `records` (the journal's): how a change the journal could not record is
   * undone. Slower than an undo of each record, but only a full disk takes this path, and it is the
   * same replay a restart does, so memory ends up exactly as the journal says.
   */
  reload(records: readonly StateRecord[]): void {
    for (const table of [
      this.sessions,
      this.segments,
      this.syncObjects,
      this.channels,
      this.clientsByVm,
      this.segmentsByName,
      this.sessionsByToken,
      this.syncByName,
      this.blocksByClient,
      this.blocksByVm,
      this.slotHoldsByVm,
      this.ringsByChannel,
      this.ringChannels,
    ])
      table.clear();
    this.allocator = new BlockAllocator(this.geometry.blockCount);
    this.epoch = 0;
    this.nextClientId = 1;
    this.nextSegmentId = 1;
    this.lastGeneration = 0;
    for (const record of records) this.apply(record);
  }

  sessionByToken(token: string): Session | undefined {
    return this.sessionsByToken.get(token);
  }

  session(clientId: number): Session {
    const session = this.sessions.get(clientId);
    if (!session) throw failure("SessionUnknown", `find client ${clientId}`, "it has no session");
    return session;
  }

  blocksHeldBy(clientId: number): number {
    return this.blocksByClient.get(clientId) ?? 0;
  }

  blocksHeldByVm(vm: string): number {
    return this.blocksByVm.get(vm) ?? 0;
  }

  /** The synchronisation slots the VM's sessions hold (a slot several of them hold counts once). */
  slotsHeldByVm(vm: string): number {
    return this.slotHoldsByVm.get(vm)?.size ?? 0;
  }

  /** Whether a session of the VM holds `slot`. */
  vmHoldsSlot(vm: string, slot: number): boolean {
    return this.slotHoldsByVm.get(vm)?.has(slot) ?? false;
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
      case "session":
        this.applySession(record);
        return;
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
        this.countSlotHold(record.clientId, record.slot, true);
        return;
      case "sync-release":
        this.syncOf(record.slot).holders.delete(record.clientId);
        this.countSlotHold(record.clientId, record.slot, false);
        return;
      case "sync-free": {
        const object = this.syncOf(record.slot);
        this.syncObjects.delete(object.slot);
        this.channels.delete(object.slot);
        this.ringChannels.delete(object.slot);
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
    for (const { holders, ...segment } of this.segments.values()) {
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

  protected segmentOf(segmentId: number): Segment {
    const segment = this.segments.get(segmentId);
    if (!segment) throw failure("NotFound", `find segment ${segmentId}`, "no segment has that id");
    return segment;
  }

  protected syncOf(slot: number): SyncObject {
    const object = this.syncObjects.get(slot);
    if (!object) throw failure("NotFound", `find slot ${slot}`, "no synchronisation object lives there");
    return object;
  }

  // ---- internals ----

  private vmClients(vm: string): Set<number> {
    const clients = this.clientsByVm.get(vm) ?? new Set<number>();
    this.clientsByVm.set(vm, clients);
    return clients;
  }

  /** A session's hold on a slot taken or given up, counted for its VM (--vm-slots). */
  private countSlotHold(clientId: number, slot: number, held: boolean): void {
    const session = this.sessions.get(clientId);
    if (!session || session.slots.has(slot) === held) return;
    if (held) session.slots.add(slot);
    else session.slots.delete(slot);
    const holds = this.slotHoldsByVm.get(session.vm) ?? new Map<number, number>();
    const count = (holds.get(slot) ?? 0) + (held ? 1 : -1);
    if (count > 0) holds.set(slot, count);
    else holds.delete(slot);
    if (holds.size > 0) this.slotHoldsByVm.set(session.vm, holds);
    else this.slotHoldsByVm.delete(session.vm);
  }

  private applySessionEnd(clientId: number): void {
    const session = this.sessions.get(clientId);
    this.sessions.delete(clientId);
    if (!session) return;
    this.sessionsByToken.delete(session.token);
    const clients = this.vmClients(session.vm);
    clients.delete(clientId);
    this.forgetVmIfIdle(session.vm);
  }

  /** A VM leaves the status once it has neither sessions nor blocks charged to it. */
  private forgetVmIfIdle(vm: string): void {
    if (this.clientsByVm.get(vm)?.size === 0 && this.blocksHeldByVm(vm) === 0) this.clientsByVm.delete(vm);
  }

  private applySession(record: Extract<StateRecord, { t: "session" }>): void {
    // A record repeated (a line copied in an editor) replaced the live session with one holding nothing.
    if (this.sessions.has(record.clientId) || this.sessionsByToken.has(record.token))
      throw failure("StateInvalid", `restore client ${record.clientId}`, "its session is live already");
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
  }

  private applySegment(record: Extract<StateRecord, { t: "segment" }>): void {
    const taken =
      this.segments.get(record.id) ?? (record.name ? this.segmentsByName.get(record.name) : undefined);
    if (taken)
      throw failure(
        "StateInvalid",
        `restore segment ${record.id}`,
        `segment ${taken.id} is live already by its id or name`,
      );
    this.allocator.claim(record);
    // Recorded, as a snapshot no longer holds the session of a creator that left before it.
    const creatorVm = record.creatorVm ?? this.sessions.get(record.creator)?.vm ?? "";
    const segment: Segment = { ...withoutTag(record), creatorVm, holders: new CompactMap(idShard) };
    this.segments.set(record.id, segment);
    if (record.name) this.segmentsByName.set(record.name, segment);
    this.countRing(record.name, 1);
    // Ids wrap past 2^32 - 1 to 1, so the newer is the one less than 2^31 past the last handed out (a maximum
    // stayed past 2^32 - 1: after a restart, numbering began at 1 again, handing out ids just freed).
    const ahead = (record.id - (this.nextSegmentId - 1)) >>> 0;
    if (ahead > 0 && ahead < 2 ** 31) this.nextSegmentId = record.id + 1;
    this.addCharge(segment, record.blockCount);
  }

  private applySegmentFree(segmentId: number): void {
    const segment = this.segmentOf(segmentId);
    this.allocator.release(segment);
    this.segments.delete(segmentId);
    if (segment.name) this.segmentsByName.delete(segment.name);
    this.countRing(segment.name, -1);
    this.addCharge(segment, -segment.blockCount);
  }

  private countRing(segmentName: string, change: 1 | -1): void {
    const channel = ringChannelSlotName(segmentName);
    if (channel === undefined) return;
    const rings = (this.ringsByChannel.get(channel) ?? 0) + change;
    if (rings > 0) this.ringsByChannel.set(channel, rings);
    else this.ringsByChannel.delete(channel);
    const object = this.syncByName.get(channel);
    if (object?.kind === "channel" && rings > 0) this.ringChannels.set(object.slot, object);
    else if (object?.kind === "channel") this.ringChannels.delete(object.slot);
  }

  private addCharge(segment: Segment, blocks: number): void {
    // An entry at 0 is dropped: each client that ever allocated (every transfer's sender) left one for good.
    const [clientBlocks, vmBlocks] = [
      this.blocksHeldBy(segment.creator),
      this.blocksHeldByVm(segment.creatorVm),
    ];
    if (clientBlocks + blocks === 0) this.blocksByClient.delete(segment.creator);
    else this.blocksByClient.set(segment.creator, clientBlocks + blocks);
    if (vmBlocks + blocks === 0) this.blocksByVm.delete(segment.creatorVm);
    else this.blocksByVm.set(segment.creatorVm, vmBlocks + blocks);
    // Listed while charged, with or without sessions: status must show what its quota counts.
    this.vmClients(segment.creatorVm);
    this.forgetVmIfIdle(segment.creatorVm);
  }

  private applyGrant(segmentId: number, clientId: number, mode: AccessModeName): void {
    this.segmentOf(segmentId).holders.set(clientId, mode);
    this.sessions.get(clientId)?.grants.set(segmentId, mode);
  }

  private applySync(record: Extract<StateRecord, { t: "sync" }>): void {
    // A slot past the last was taken, and the refusal came at the next record, which found it empty.
    if (record.slot >= this.geometry.slotCount)
      throw failure(
        "StateInvalid",
        `place ${record.kind} '${record.name}' in slot ${record.slot}`,
        `the region has ${this.geometry.slotCount} slots`,
      );
    // A record repeated replaced the live object with one that nobody held.
    const taken = this.syncObjects.get(record.slot) ?? this.syncByName.get(record.name);
    if (taken)
      throw failure(
        "StateInvalid",
        `place ${record.kind} '${record.name}' in slot ${record.slot}`,
        `${taken.kind} '${taken.name}' in slot ${taken.slot} is live already`,
      );
    const object: SyncObject = { ...withoutTag(record), holders: new Set() };
    this.syncObjects.set(record.slot, object);
    if (object.kind === "channel") this.channels.set(record.slot, object);
    else this.channels.delete(record.slot);
    // A snapshot's rings come before their channels.
    if (object.kind === "channel" && this.ringsByChannel.has(record.name))
      this.ringChannels.set(record.slot, object);
    this.syncByName.set(record.name, object);
    // Generations wrap past 2^32 - 1 to 1 (a maximum stayed there, and every object after got 1): the newer
    // is the one less than 2^31 ahead, so the object made after the wrap moves it on, and a snapshot's live
    // objects, made before its lastGeneration, do not move it back.
    const ahead = (record.generation - this.lastGeneration) >>> 0;
    if (ahead > 0 && ahead < 2 ** 31) this.lastGeneration = record.generation;
  }

  private applyReply(record: Extract<StateRecord, { t: "reply" }>): void {
    const replies = this.sessions.get(record.clientId)?.replies;
    if (!replies) return;
    // Maps iterate in insertion order: the first key is the oldest reply (a reused id's is the newest).
    replies.delete(record.requestId);
    replies.set(record.requestId, { op: record.op, reply: record.reply });
    if (replies.size > REPLY_CACHE_SIZE) replies.delete(replies.keys().next().value!);
  }
}

function withoutTag<T extends { t: string }>(record: T): Omit<T, "t"> {
  const { t: _tag, ...rest } = record;
  return rest;
}
