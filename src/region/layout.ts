/**
 * The shared region's layout, defined here and nowhere else (documented field by field in docs/layout.md).
 *
 *   [ header page | synchronisation slots (64 B each) | padding to a page | block 0 | block 1 | ... ]
 *
 * Every process that maps the region (the arbiter, host clients, guests through PCI BAR 2) reads it
 * through these definitions and accessors, and its header through ./header.ts. All integers are
 * little-endian (x86-64 native, as are Int32Array views).
 */
import { failure } from "../errors.ts";
import { formatSizeFlag } from "../units.ts";

export const PAGE_SIZE = 4096;

/** A wake count meaning "every waiter": INT_MAX, as FUTEX_WAKE takes it, and as WAKE's count. */
export const WAKE_ALL = 0x7fffffff;
export const LAYOUT_MAGIC = 0x48535649; // the bytes "IVSH"
/**
 * 4: mutex and condvar waiters park on a per-kernel futex and say so in the slot (`SyncWord`);
 * 3: a channel's receiver names itself (`receiverId`) and confirms with the digest (`confirmation`);
 * 2: the channel digest chains 64 KiB pieces with a 32-bit seed (1 chained whole records).
 */
export const LAYOUT_VERSION = 4;
export const SLOT_BYTES = 64; // one cache line, so two slots never share a line (no false sharing)
export const SLOT_WORDS = SLOT_BYTES / 4;

/** Byte offsets of the header fields (all in the first page). */
export const Header = {
  /** u32 LAYOUT_MAGIC: identifies an ivsh region. */
  magic: 0,
  /** u32 LAYOUT_VERSION once the header is complete; 0 while the arbiter formats. Written last. */
  layoutVersion: 4,
  /** u32 bytes of the header (one page). */
  headerBytes: 8,
  /** u32 bytes per data block: a multiple of PAGE_SIZE. */
  blockSize: 12,
  /** u32 number of data blocks. */
  blockCount: 16,
  /** u32 number of 64-byte synchronisation slots. */
  slotCount: 20,
  /** u32 byte offset of slot 0 (right after the header). */
  slotOffset: 24,
  /** u32 byte offset of block 0: page aligned. */
  dataOffset: 28,
  /** u64 bytes of the whole region (file or BAR size). */
  regionSize: 32,
  /** u32 arbiter epoch: bumped every time an arbiter starts serving this region. */
  epoch: 40,
  /** u32 pid of the arbiter that last started on this region (for people: pids repeat across containers). */
  arbiterPid: 44,
  /** u64 random number (< 2^48) the arbiter that last started on this region chose: tells arbiters apart. */
  arbiterInstance: 48,
  /** u32 highest client id greeted, u32 it ^ tag ^ epoch (else none): one greeted above it sees a copy. */
  greetedUpTo: 56,
  greetedCheck: 60,
  /** The arbiter's own, up to the probe area: session ends to do at the next start (host/unrecorded-ends.ts). */
  unrecordedEnds: 64,
  /**
   * PROBE_BYTES of scratch space, meaningless content: any client may write here to measure how fast its
   * mapping is (a guest choosing between resource2 and resource2_wc) without touching anyone's data.
   */
  probeArea: 2048,
} as const;

export const PROBE_BYTES = 2048;
/** Bytes of the header that hold the fields its sweep guards (the last is arbiterInstance); after them, greetedUpTo and unrecordedEnds up to the probe area. */
export const HEADER_FIELD_BYTES = Header.arbiterInstance + 8;

/**
 * Word indexes inside one slot (16 x u32). What a word means depends on the slot's kind; the lock word
 * and the kind are common to all.
 */
export const SlotWord = {
  /** Lock word: owner client id in bits 0-29, LOCK_OWNER_DIED, LOCK_WAITERS; 0 = unlocked. */
  lock: 0,
  /** Condition variable: sequence number bumped by every notify. */
  sequence: 1,
  /** Condition variable: clients parked in the arbiter on `sequence` (notify skips the arbiter when 0). */
  sequenceWaiters: 2,
  /** First of the words a kind may use freely (channels keep their counters here). */
  kindSpecific: 3,
  /** SlotKind the arbiter allocated this slot as; 0 when free. */
  kind: 14,
  /** A number the arbiter never hands out twice, written when it hands the slot out: a handle that
   * remembers another value is stale (the slot was freed and now holds another object). */
  generation: 15,
} as const;

/**
 * The parking words of a mutex or condvar slot (docs/layout.md, "Parking"). A waiter that gives up
 * spinning parks either on its own kernel's futex (its "park record" says which kernel and how many) or
 * in the arbiter (a plain count); a waker reads both to choose FUTEX_WAKE, WAKE to the arbiter, or nothing.
 */
export const SyncWord = {
  /** Park record for `lock`: kernel domain << 8 | waiters futex-parked there (0 = none). */
  lockParked: 3,
  /** Waiters parked in the arbiter on `lock`. */
  lockQueued: 4,
  /** Park record for `sequence`. */
  sequenceParked: 5,
  /** Waiters parked in the arbiter on `sequence`. */
  sequenceQueued: SlotWord.sequenceWaiters,
  /**
   * Kernel domain of the last process that woke a waiter of this slot (0 = none yet): a hint for the next
   * waiter. One of another kernel waits in the arbiter, which that waker reaches at once; a futex sleep
   * it could only end at a slice's end.
   */
  lastWaker: 6,
  /** Words 7-13 of a mutex or condvar slot are not used by ivsh (the hand-off benchmark keeps its own
   * counters there); 7 is the first. */
  firstUnused: 7,
} as const;

/** The words a waiter can park on, with the words that record who is parked on each. */
export interface ParkableWord {
  readonly word: number;
  readonly parked: number;
  readonly queued: number;
  /** Which of a slot's two words in a kernel's wake mailbox belongs to this word. */
  readonly mailboxWord: 0 | 1;
}
export const PARKABLE_WORDS: readonly ParkableWord[] = [
  { word: SlotWord.lock, parked: SyncWord.lockParked, queued: SyncWord.lockQueued, mailboxWord: 0 },
  {
    word: SlotWord.sequence,
    parked: SyncWord.sequenceParked,
    queued: SyncWord.sequenceQueued,
    mailboxWord: 1,
  },
];

/** A kernel domain is 24 bits (a hash of the kernel's boot id); 0 means "unknown: never futex-park". */
export const DOMAIN_MASK = 0xffffff;
const PARKED_COUNT_MASK = 0xff;
export const MAX_FUTEX_PARKED = PARKED_COUNT_MASK;
export function parkRecord(domain: number, count: number): number {
  return ((domain & DOMAIN_MASK) << 8) | (count & PARKED_COUNT_MASK);
}
export function parkedCount(record: number): number {
  return record & PARKED_COUNT_MASK;
}
export function parkedDomain(record: number): number {
  return (record >>> 8) & DOMAIN_MASK;
}
/** A kernel's wake mailbox holds two u32 per slot: futex words its own waiters sleep on. */
export const MAILBOX_WORDS_PER_SLOT = 2;
export function mailboxIndex(slot: number, parkable: ParkableWord): number {
  return slot * MAILBOX_WORDS_PER_SLOT + parkable.mailboxWord;
}
export const SlotKind = { free: 0, mutex: 1, condvar: 2, channel: 3 } as const;
export type SlotKindName = Exclude<keyof typeof SlotKind, "free">;

/**
 * Words of a channel slot (a ring of chunks in a segment, see src/transfer/). Counters are u32 and wrap;
 * only their difference (head - tail, at most the depth) matters.
 */
export const ChannelWord = {
  /** Lock word held by the sender for the whole transfer (busy check; OWNER_DIED when it dies). */
  sender: SlotWord.lock,
  /**
   * Client id of the receiver that joined transfer `receiverJoined`, stored before `receiverJoined`: the
   * sender watches that client's lock word (a later receiver taking the lock is not the one it streams to).
   */
  receiverId: SlotWord.sequence,
  /**
   * Written by the receiver just before it moves `state` to delivered (confirmationOf): a delivered
   * without the sender's own value here was not written by its receiver for this transfer.
   */
  confirmation: SlotWord.sequenceWaiters,
  /** Lock word held by the receiver for the whole transfer. */
  receiver: 3,
  /** Records published by the sender. */
  head: 4,
  /** Records consumed by the receiver. */
  tail: 5,
  /** 1 while the sender is parked for a receiver, space or the verdict (then WAKEd), or a setupFailureNote. */
  senderParked: 6,
  /** 1 while the receiver is parked waiting for data. */
  receiverParked: 7,
  /** ChannelState. */
  state: 8,
  /** Bumped by the sender each time it publishes a new ring: receivers wait on it. */
  transfer: 9,
  /** Chunks in the ring. */
  depth: 10,
  /** Bytes per chunk. */
  chunkBytes: 11,
  /** Segment id of the ring (a named segment "channel:NAME:TRANSFER"). */
  ringSegment: 12,
  /** The transfer number a receiver joined: a transfer is received by one receiver, from its start. */
  receiverJoined: 13,
} as const;

/**
 * A sender's note in `senderParked` of why it could not set up its ring: reason << 28 | its client id (0
 * past 2^28 - 1). The failing sender stores it (seq-cst) while it still holds the sender role, before its
 * WAKE of `transfer` and its release: a receiver woken reads it, and no later sender parked over it yet
 * (a park's 1 or 0 replaces it). The receiver claims it by CAS to 0 (told once); one found as it starts
 * waiting predates the wait, and is dropped. Never 0 or 1, all an older ivsh writes there: "no note".
 */
export type SetupFailureReason = "noSpace" | "quota" | "other" | "journal";
/** Each reason's value is its place here, from 1 (journal: the --state journal could not record the ring). */
const SETUP_FAILURE_REASONS: readonly SetupFailureReason[] = ["noSpace", "quota", "other", "journal"];
export function setupFailureNote(reason: SetupFailureReason, clientId: number): number {
  return ((SETUP_FAILURE_REASONS.indexOf(reason) + 1) << 28) | (clientId < 1 << 28 ? clientId : 0);
}
/** The note `word` holds, if it holds one (a parked flag, 0 or 1, or an unknown reason is none). */
export function readSetupFailure(word: number): { reason: SetupFailureReason; clientId: number } | undefined {
  const reason = SETUP_FAILURE_REASONS[(word >>> 28) - 1];
  return reason && { reason, clientId: word & ((1 << 28) - 1) };
}

/** The names a channel's slot and each transfer's ring take among the arbiter's names. */
const CHANNEL_PREFIX = "channel:";
export function channelSlotName(name: string): string {
  return `${CHANNEL_PREFIX}${name}`;
}
export function ringSegmentName(name: string, transfer: number): string {
  return `${CHANNEL_PREFIX}${name}:${transfer}`;
}
/** Whether `name` is in the channels' part of the arbiter's names (no mutex or condvar may take it). */
export function isChannelSlotName(name: string): boolean {
  return name.startsWith(CHANNEL_PREFIX);
}
/** The channel's own name, from its slot's name. */
export function channelOfSlotName(slotName: string): string {
  return slotName.startsWith(CHANNEL_PREFIX) ? slotName.slice(CHANNEL_PREFIX.length) : slotName;
}

export const ChannelState = {
  idle: 0,
  streaming: 1,
  /** The receiver got the end record and the digests matched. */
  delivered: 2,
  /** The receiver got the end record and the digests differed. */
  corrupted: 3,
  /** The sender gave up before the end (its input failed, or it was interrupted). */
  abandoned: 4,
  /** The receiver got the whole stream intact but could not keep it (e.g. renaming its file failed). */
  refused: 5,
  /**
   * The receiver verified the stream and is keeping it (renaming FILE.partial to FILE): from here the
   * sender can no longer abandon; the receiver moves on to delivered or refused.
   */
  keeping: 6,
  /**
   * The receiver left before the end (it failed or was interrupted), or the sender saw it die while
   * keeping (its session ended: a freeze past the lease), so that it cannot settle after all.
   */
  dropped: 7,
} as const;

/**
 * The end of a transfer is decided by one compare-and-swap of `state` away from streaming: the receiver's
 * (to keeping, then delivered or refused; or to corrupted, or dropped) or the sender's (to abandoned),
 * whichever comes first. From keeping, a second CAS: the receiver's verdict, or the sender's dropped once
 * the receiver's session has ended.
 */

/**
 * What the receiver stores in `confirmation` before delivered: its digest folded to 32 bits and mixed
 * with the transfer number, so only a verdict on this transfer, by a receiver that got these bytes, passes.
 */
export function confirmationOf(digest: bigint, transfer: number): number {
  return (Number((digest ^ (digest >> 32n)) & 0xffffffffn) ^ transfer) | 0;
}

/** Lock words per kind: the ones the arbiter releases (marks OWNER_DIED) when their holder dies. */
export const LOCK_WORDS: Record<SlotKindName, readonly number[]> = {
  mutex: [SlotWord.lock],
  condvar: [SlotWord.lock],
  channel: [ChannelWord.sender, ChannelWord.receiver],
};

/**
 * A channel's ring segment: `depth` record headers of RECORD_BYTES at the start, then `depth` chunks, the
 * first page aligned. A record header: u32 length, u32 flags (RECORD_END on the last), u64 total bytes
 * (on a data record the stream's size if the sender knows it, else 0: progress only; on the end record
 * what was sent), on the end record u64 digest (xxHash3-64 chained over the records), and on a data
 * record u64 stream offset: the stream's bytes up to the end of this record (progress only: `ivsh
 * status` reads it; nothing is decided by it).
 */
export const RECORD_BYTES = 32;
export const RECORD_END = 1;
export const RecordField = { length: 0, flags: 4, totalBytes: 8, digest: 16, streamOffset: 24 } as const;
export function ringChunkOffset(depth: number): number {
  return alignUp(depth * RECORD_BYTES, PAGE_SIZE);
}

/** Lock-word bits, as in a Linux robust futex. */
export const LOCK_OWNER_MASK = 0x3fffffff;
export const LOCK_OWNER_DIED = 0x40000000;
export const LOCK_WAITERS = 0x80000000 | 0; // bit 31: negative as an Int32Array element
export const MAX_CLIENT_ID = LOCK_OWNER_MASK;

export interface Geometry {
  regionSize: number;
  blockSize: number;
  blockCount: number;
  slotCount: number;
  slotOffset: number;
  dataOffset: number;
}
export interface HeaderFields extends Geometry {
  epoch: number;
  arbiterPid: number;
  arbiterInstance: number;
}
export function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

/** The most data blocks: blockCount is a u32, and the free list (allocator.ts) links them in an Int32Array. */
export const MAX_BLOCK_COUNT = 2 ** 31 - 1;
/** The most synchronisation slots a region may have. */
export const MAX_SLOT_COUNT = 1 << 20;

/** Whether `blockSize` can be an allocation unit: a multiple of the page size, up to 2 GiB. */
export function isBlockSize(blockSize: number): boolean {
  return (
    Number.isInteger(blockSize) &&
    blockSize >= PAGE_SIZE &&
    blockSize % PAGE_SIZE === 0 &&
    blockSize <= 2 ** 31
  );
}

/** Lays out a region of `regionSize` bytes; throws when the numbers cannot make a usable region. */
export function computeGeometry(regionSize: number, blockSize: number, slotCount: number): Geometry {
  const action = `lay out a ${regionSize}-byte region`;
  if (!isBlockSize(blockSize))
    throw failure(
      "InvalidArgument",
      action,
      `the block size ${blockSize} is not a multiple of ${PAGE_SIZE} up to 2 GiB`,
    );
  if (!Number.isInteger(slotCount) || slotCount < 1 || slotCount > MAX_SLOT_COUNT)
    throw failure("InvalidArgument", action, `the slot count ${slotCount} is outside 1..${MAX_SLOT_COUNT}`);
  const slotOffset = PAGE_SIZE;
  const dataOffset = alignUp(slotOffset + slotCount * SLOT_BYTES, PAGE_SIZE);
  // The smallest size that passes every check here (and QEMU's): a power of two with room for one block.
  const smallest = powerOfTwoAtLeast(dataOffset + blockSize);
  if (!Number.isSafeInteger(regionSize) || regionSize % PAGE_SIZE !== 0)
    throw failure(
      "InvalidArgument",
      action,
      `the size must be a multiple of ${PAGE_SIZE} bytes (a power of two, as QEMU needs: e.g. --size ${formatSizeFlag(powerOfTwoAtLeast(Math.max(regionSize, smallest)))})`,
    );
  const blockCount = Math.floor((regionSize - dataOffset) / blockSize);
  if (blockCount < 1) {
    // Only what would make room is offered: fewer slots cannot, for a block larger than the region.
    const fewerSlots = 2 * PAGE_SIZE + blockSize <= regionSize ? ", or pass fewer --slots" : "";
    const largestBlock = Math.floor((regionSize - dataOffset) / PAGE_SIZE) * PAGE_SIZE;
    const smallerBlock =
      largestBlock >= PAGE_SIZE ? `, or a --block-size of at most ${formatSizeFlag(largestBlock)}` : "";
    throw failure(
      "InvalidArgument",
      action,
      `header and ${slotCount} slots take ${dataOffset} bytes, leaving no room for one ${blockSize}-byte block ` +
        `(--size ${formatSizeFlag(smallest)} or more fits one${fewerSlots}${smallerBlock})`,
    );
  }
  if (blockCount > MAX_BLOCK_COUNT) {
    const fits = Math.max(PAGE_SIZE, powerOfTwoAtLeast(Math.floor((regionSize - dataOffset) / 2 ** 31) + 1));
    throw failure(
      "InvalidArgument",
      action,
      `${blockSize}-byte blocks would make ${blockCount} of them, more than ${MAX_BLOCK_COUNT} blocks (the most a block index counts): pass --block-size ${formatSizeFlag(fits)} or more`,
    );
  }
  return { regionSize, blockSize, blockCount, slotCount, slotOffset, dataOffset };
}
/** The smallest power of two of at least `bytes`: a region size QEMU accepts. */
export function powerOfTwoAtLeast(bytes: number): number {
  return 2 ** Math.ceil(Math.log2(bytes));
}
/** The tail: bytes at the region's end that no block covers (fewer than a block), which nothing uses. */
export function tailBytes(geometry: Geometry): number {
  return geometry.regionSize - blockOffset(geometry, geometry.blockCount);
}
/** Byte offset of a block from the start of the region. */
export function blockOffset(geometry: Geometry, block: number): number {
  return geometry.dataOffset + block * geometry.blockSize;
}
/** Index into the Int32Array over the region's first `dataOffset` bytes (`MappedRegion.syncWords` in mapping.ts). */
export function slotWordIndex(geometry: Geometry, slot: number, word: number): number {
  return (geometry.slotOffset >> 2) + slot * SLOT_WORDS + word;
}
export function sameGeometry(a: Geometry, b: Geometry): boolean {
  return (
    a.regionSize === b.regionSize &&
    a.blockSize === b.blockSize &&
    a.blockCount === b.blockCount &&
    a.slotCount === b.slotCount &&
    a.slotOffset === b.slotOffset &&
    a.dataOffset === b.dataOffset
  );
}
