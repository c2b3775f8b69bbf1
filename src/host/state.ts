/**
 * The arbiter's authoritative bookkeeping: sessions, segments with their holders, and named
 * synchronisation slots. No sockets here and no timers: the server calls in, this decides, journals the
 * effect and applies it. Every change goes through `commit`, which applies a record and appends it to the
 * journal, and replay after a restart applies the same records: one code path for both (`apply`, in
 * ./recorded-state.ts with the tables it fills).
 */
import { randomBytes } from "node:crypto";
import { failure, shownName } from "../errors.ts";
import { U32_MAX } from "../protocol/codec.ts";
import { type AccessModeName, HOST_VM, MAX_NAME_BYTES, SyncCreate } from "../protocol/messages.ts";
import { type Geometry, isChannelSlotName, MAX_CLIENT_ID, type SlotKindName } from "../region/layout.ts";
import { formatBytes, plural } from "../units.ts";
import type { Released } from "./oplog.ts";
import { heldAlready, modeConflict } from "./permissions.ts";
import {
  RecordedState,
  ringChannelSlotName,
  type Segment,
  type Session,
  type SyncObject,
} from "./recorded-state.ts";
import type { Journal, StateRecord } from "./records.ts";

export interface Limits {
  /** Blocks one client may have allocated at once (0 = no limit). */
  clientQuotaBlocks: number;
  /** Blocks all clients of one VM may have allocated at once (0 = no limit). */
  vmQuotaBlocks: number;
  /** Synchronisation slots all clients of one VM may hold at once (0 or absent = no limit). */
  vmSlots?: number;
  /** Connections one VM may have open at once (0 or absent = no limit): ./connection-limit.ts counts them. */
  vmConnections?: number;
}

/** What the arbiter does to slot memory; the region implements it, tests fake it. */
export interface SlotMemory {
  initialise(slot: number, kind: SlotKindName, generation: number): void;
  clear(slot: number): void;
  /** Marks the slot's lock words owned by `clientId` owner-died; true if there were any. */
  releaseDeadOwner(slot: number, kind: SlotKindName, clientId: number): boolean;
}

/**
 * A quota refusal's advice on the segments it counts that the asking client (or VM) no longer holds. No
 * parentheses in it: a channel's refusal (src/transfer/ring-setup.ts) drops the advice's for its own.
 */
const HELD_ELSEWHERE =
  "those held only by other clients count until they free them or end: `ivsh status` lists each segment's holders";

export class ArbiterState extends RecordedState {
  private journal: Journal | undefined;

  constructor(
    geometry: Geometry,
    readonly limits: Limits,
    private readonly slots: SlotMemory,
  ) {
    super(geometry);
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
        `every client id was used (${MAX_CLIENT_ID}: each session takes a new one, never reused, as lock ` +
          "words name their holders by id): a new --state starts afresh, without this one's segments, " +
          "locks and sessions, so stop every client, then restart the arbiter with a new --state",
      );
    const token = randomBytes(16).toString("hex");
    this.commit({ t: "session", clientId, token, name: truncateUtf8(name, MAX_NAME_BYTES), pid, vm });
    return this.session(clientId);
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
    const what = `allocate ${name ? `segment '${shownName(name)}'` : "a segment"}`;
    const blockCount = this.blocksFor(bytes, blocks, what);
    checkName(name, what, true);
    // A channel's rings ('channel:NAME:TRANSFER') are its sender's: another client's segment named so (a
    // library from before 1fa40fc, which refuses them itself, or any peer speaking the protocol) took the
    // ring's name, and after 18 of them every send on that channel failed.
    if (isChannelSlotName(name) && !this.holdsChannelOfRing(session, name))
      throw failure(
        "InvalidArgument",
        what,
        "names beginning 'channel:' are the rings of ivsh guest send and recv's channels (name the segment otherwise)",
      );
    if (name && this.segmentsByName.has(name))
      throw failure("AlreadyExists", what, "a segment by that name exists (open it instead)");
    this.checkQuota(session, blockCount, what);
    const run = this.allocator.choose(blockCount, what);
    const id = this.freeSegmentId();
    const segmentBytes = bytes || blockCount * this.geometry.blockSize;
    const [creator, creatorVm] = [session.clientId, session.vm];
    this.commit({ t: "segment", id, name, ...run, bytes: segmentBytes, creator, creatorVm });
    this.commit({ t: "grant", segmentId: id, clientId: session.clientId, mode });
    return this.segments.get(id)!;
  }

  /** Whether `ringName` is 'CHANNEL_SLOT:TRANSFER' of a channel slot the session holds (its sender's). */
  private holdsChannelOfRing(session: Session, ringName: string): boolean {
    const slotName = ringChannelSlotName(ringName);
    const channel = slotName === undefined ? undefined : this.syncByName.get(slotName);
    return channel?.kind === "channel" && session.slots.has(channel.slot);
  }

  open(session: Session, name: string, mode: AccessModeName): Segment {
    const what = `open segment '${shownName(name)}' ${mode}`;
    checkName(name, what, false);
    const segment = this.segmentsByName.get(name);
    if (!segment) throw failure("NotFound", what, "no segment has that name (allocate it first)");
    const held = segment.holders.get(session.clientId);
    // Asking more (write, holding read) is an upgrade that the Segment held cannot give: writing it faults.
    if (held) throw failure("InvalidArgument", what, heldAlready(held, mode, segment.holders.size === 1));
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
    const what = `open ${kind} '${shownName(name)}'`;
    checkName(name, what, false);
    // A mutex named so would take a channel's slot name: every transfer on that channel was then refused.
    if (kind !== "channel" && isChannelSlotName(name))
      throw failure(
        "InvalidArgument",
        what,
        `names beginning 'channel:' are the channels' of ivsh guest send and recv (name the ${kind} otherwise)`,
      );
    let object = this.syncByName.get(name);
    if (object && object.kind !== kind)
      throw failure(
        "InvalidArgument",
        what,
        `'${name}' is a ${object.kind} (one name is one object: open it as the ${object.kind} it is, or give the ${kind} another name)`,
      );
    if (object && create === SyncCreate.createNew) throw failure("AlreadyExists", what, "it exists already");
    if (!object && create === SyncCreate.openExisting)
      throw failure("NotFound", what, "nothing by that name exists (create it first)");
    const created = !object;
    if (!object?.holders.has(session.clientId)) this.checkVmSlots(session.vm, object?.slot, what);
    if (!object) object = this.createSync(name, kind, what);
    if (!object.holders.has(session.clientId))
      this.commit({ t: "sync-hold", slot: object.slot, clientId: session.clientId });
    return { object, created };
  }

  /**
   * Gives up a client's hold on a slot (its last handle closed). A mutex or condvar lock it still holds is
   * released as owner-died: with no handle left it could never unlock it, and every other holder waited
   * until its session ended. (A channel's role words stay: a transfer end says how it left.) `closed` is
   * told the object so released, if any, once the close is recorded.
   */
  closeSync(session: Session, slot: number, closed: (abandoned: SyncObject | undefined) => void): void {
    if (!session.slots.has(slot))
      throw failure("NotHeld", `close slot ${slot}`, "this client has not opened it");
    const object = this.syncObjects.get(slot);
    // The lock and the slot's words change only once the close is recorded: a journal that refuses it,
    // up front or in its write (its file system full), leaves them as the client that is told so holds them.
    this.commit({ t: "sync-release", slot, clientId: session.clientId });
    let released = false;
    this.afterRecorded(() => {
      released =
        object !== undefined &&
        object.kind !== "channel" &&
        this.slots.releaseDeadOwner(slot, object.kind, session.clientId);
    });
    this.freeIfUnheld(slot);
    this.afterRecorded(() => closed(released ? object : undefined));
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
    this.journal?.admit?.();
    this.apply(record);
    this.journal?.append(record);
  }

  /** Runs `effect`, a change to the region's words, once what was committed is journaled; never if not. */
  private afterRecorded(effect: () => void): void {
    if (this.journal?.afterWrite) this.journal.afterWrite(effect);
    else effect();
  }

  // ---- internals ----

  private blocksFor(bytes: number, blocks: number, what: string): number {
    if (bytes > 0 === blocks > 0)
      throw failure(
        "InvalidArgument",
        what,
        "the request gives both a size in bytes and a number of blocks, or neither (give one, above 0)",
      );
    const count = blocks || Math.ceil(bytes / this.geometry.blockSize);
    if (count > this.geometry.blockCount)
      throw failure(
        "NoSpace",
        what,
        `it needs ${count} blocks of ${this.geometry.blockSize} bytes and the whole region has ${this.geometry.blockCount} (allocate less, or start the arbiter with a larger --size)`,
      );
    return count;
  }

  private checkQuota(session: Session, blockCount: number, what: string): void {
    const { clientQuotaBlocks, vmQuotaBlocks } = this.limits;
    // Charged to the creator while the segment lives, whoever holds it: "holds" was untrue once it freed its
    // grant, and "free one" misled a creator that had freed its own while others held them (it has none to free).
    const clientBlocks = this.blocksHeldBy(session.clientId);
    if (clientQuotaBlocks > 0 && clientBlocks + blockCount > clientQuotaBlocks)
      throw failure(
        "QuotaExceeded",
        what,
        `it needs ${this.blocks(blockCount)} and client ${session.clientId} already has ${this.blocks(clientBlocks)} of its quota of ${this.blocks(clientQuotaBlocks)} in segments it created, each counted until its last holder frees it, also once this client has freed its own grant (free those it holds; ${HELD_ELSEWHERE}; or raise --client-quota)`,
      );
    const vmBlocks = this.blocksHeldByVm(session.vm);
    if (vmQuotaBlocks > 0 && vmBlocks + blockCount > vmQuotaBlocks)
      throw failure(
        "QuotaExceeded",
        what,
        `it needs ${this.blocks(blockCount)} and VM '${session.vm}' already has ${this.blocks(vmBlocks)} of its quota of ${this.blocks(vmQuotaBlocks)} in segments its clients created, each counted until its last holder, in any VM, frees it, also once its creator has freed its own grant or ended (free those its clients hold; ${HELD_ELSEWHERE}; or raise --vm-quota)`,
      );
  }

  /**
   * One VM's clients could otherwise take every slot of the region (a mutex each), and every other VM's
   * lock, condvar or transfer was refused "all N slots are in use". A slot its VM holds already (another of
   * its clients opened it) costs nothing more; one held now past a limit lowered since is kept.
   */
  private checkVmSlots(vm: string, slot: number | undefined, what: string): void {
    const limit = this.limits.vmSlots ?? 0;
    if (limit === 0 || (slot !== undefined && this.vmHoldsSlot(vm, slot))) return;
    const held = this.slotsHeldByVm(vm);
    if (held < limit) return;
    const host = vm === HOST_VM ? "the host's processes count together; " : "";
    throw failure(
      "QuotaExceeded",
      what,
      `VM '${vm}' already holds ${plural(held, "synchronisation slot")}, its --vm-slots limit of ${limit} (${host}each lock, condition variable and channel its clients have open counts once, until the last of them closes it or ends): close some, or raise --vm-slots`,
    );
  }

  /** A block count as operators set quotas: in bytes, with the count ("32 blocks (128 KiB)"). */
  private blocks(count: number): string {
    const noun = count === 1 ? "block" : "blocks";
    return `${count} ${noun} (${formatBytes(count * this.geometry.blockSize)})`;
  }

  private dropGrant(session: Session, segmentId: number): boolean {
    this.commit({ t: "ungrant", segmentId, clientId: session.clientId });
    if (this.segmentOf(segmentId).holders.size > 0) return false;
    this.commit({ t: "segment-free", segmentId });
    return true;
  }

  private dropSyncHold(session: Session, slot: number): void {
    this.commit({ t: "sync-release", slot, clientId: session.clientId });
    this.freeIfUnheld(slot);
  }

  private freeIfUnheld(slot: number): void {
    if (this.syncOf(slot).holders.size > 0) return;
    this.afterRecorded(() => this.slots.clear(slot));
    this.commit({ t: "sync-free", slot });
  }

  private createSync(name: string, kind: SlotKindName, what: string): SyncObject {
    const slot = this.freeSlot();
    if (slot === undefined)
      throw failure(
        "NoSpace",
        what,
        `${this.geometry.slotCount === 1 ? "its only slot is" : `all ${this.geometry.slotCount} slots are`} in use (start the arbiter with more --slots)`,
      );
    const generation = (this.lastGeneration + 1) >>> 0 || 1;
    this.slots.initialise(slot, kind, generation);
    this.commit({ t: "sync", slot, name, kind, generation });
    return this.syncOf(slot);
  }

  /**
   * The next segment id: a u32 on the wire, so after 2^32 - 1 (a day or two of allocs) the ids wrap to 1,
   * skipping those still in use. Live segments number at most the blocks, far fewer than the ids.
   */
  private freeSegmentId(): number {
    let id = this.nextSegmentId;
    while (id > U32_MAX || this.segments.has(id)) id = id >= U32_MAX ? 1 : id + 1;
    this.nextSegmentId = id; // the segment's record moves it on past id
    return id;
  }

  private freeSlot(): number | undefined {
    for (let slot = 0; slot < this.geometry.slotCount; slot++) if (!this.syncObjects.has(slot)) return slot;
    return undefined;
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
  if (!name && !optional)
    throw failure(
      "InvalidArgument",
      what,
      `the name is empty (name it: 1 to ${MAX_NAME_BYTES} bytes of UTF-8)`,
    );
  if (Buffer.byteLength(name) > MAX_NAME_BYTES)
    throw failure(
      "InvalidArgument",
      what,
      `the name is longer than ${MAX_NAME_BYTES} bytes (choose a shorter name)`,
    );
}
