/**
 * How a sender sets up each transfer's ring: its shape (asked for, or fitted to a stream of known size),
 * the wait for a receiver still draining the last transfer, a segment under a fresh name (waiting for room
 * while other clients hold it: ./room-wait.ts), and the announcement in the channel's slot.
 */
import { failure, type IvshError, isIvshError, libraryForm, reasonOf, throwIfAborted } from "../errors.ts";
import {
  alignUp,
  ChannelState,
  LOCK_OWNER_MASK,
  PAGE_SIZE,
  ringSegmentName,
  type SetupFailureReason,
  setupFailureNote,
  WAKE_ALL,
} from "../region/layout.ts";
import { formatBytes, formatSizeFlag } from "../units.ts";
import { abortable } from "./abortable.ts";
import type { ChannelClient } from "./channel-client.ts";
import { checkEndArguments } from "./end-arguments.ts";
import { failedGivingBack, giveBack, giveBackRefused } from "./refused-frees.ts";
import { Ring, ringGeometryProblem } from "./ring.ts";
import { largerFlag, noteShrink } from "./ring-shrink.ts";
import { checkRoomWait, RoomWaiter, type RoomWaitOptions, ringBlocks, roomOf } from "./room-wait.ts";
import type { ChannelSlot } from "./slot.ts";

/** Bytes per chunk of a channel's ring unless `chunkBytes` says otherwise (1 MiB). */
export const DEFAULT_CHUNK_BYTES = 1 << 20;
/** Chunks in a channel's ring unless `depth` says otherwise: how far a sender may run ahead. */
export const DEFAULT_DEPTH = 8;

/**
 * A ring no larger than a stream of known size needs: a 1 KiB file gets one page-rounded chunk and room
 * for the end record, not 8 MiB allocated and mapped in up front (a whole 1 KiB send → recv went from
 * 41–43 to 32–33 ms, docs/bench/transfer-path.md). Records,
 * and so the digest, are the same: a chunk is cut only below the size asked for when the whole stream
 * fits in it. A file whose size changes while it is sent meets the same checks as before through a
 * smaller ring. Geometry the caller got wrong is left for `open` to refuse.
 */
export function fitRingToSize(options: ChannelOptions, size: number | undefined): ChannelOptions {
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const depth = options.depth ?? DEFAULT_DEPTH;
  if (size === undefined || ringGeometryProblem(chunkBytes, depth)) return options;
  const fittedChunk = Math.min(chunkBytes, Math.max(PAGE_SIZE, alignUp(size, PAGE_SIZE)));
  const fittedDepth = Math.max(2, Math.min(depth, Math.ceil(size / fittedChunk) + 1));
  return { ...options, chunkBytes: fittedChunk, depth: fittedDepth };
}

/**
 * `fitted`, the ring for `asked` (options without chunkBytes or depth: the defaults), with its chunks halved
 * until it fits the region's blocks: on a small region (the 4 MiB `ivsh host` suggests for VMs), the 8 MiB
 * of the default ring and of a file's ring did not fit, and `echo hi | ivsh guest send -` was refused. One
 * that fits keeps its shape, however little room it leaves (the region's size is the user's choice); a
 * shape the caller chose is kept, and refused as before when it cannot fit.
 */
export function fitRingToRegion(
  asked: ChannelOptions,
  fitted: ChannelOptions,
  geometry: { blockSize: number; blockCount: number },
): ChannelOptions {
  const depth = fitted.depth ?? DEFAULT_DEPTH;
  let chunkBytes = fitted.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const chosen = asked.chunkBytes !== undefined || asked.depth !== undefined;
  if (chosen || ringGeometryProblem(chunkBytes, depth)) return fitted;
  const blocks = (chunk: number) => Math.ceil(Ring.bytesNeeded(depth, chunk) / geometry.blockSize);
  while (chunkBytes > PAGE_SIZE && blocks(chunkBytes) > geometry.blockCount)
    chunkBytes = alignUp(chunkBytes / 2, PAGE_SIZE);
  // Fitting the whole region, it may still find no room in a busy one: halved further at allocation.
  return { ...fitted, chunkBytes, depth, minChunkBytes: PAGE_SIZE };
}

const OLD_RECEIVER_POLL_MS = 10;

/** The shape of the ring `ChannelSender.open()` allocates, and how it waits. */
export interface ChannelOptions extends RoomWaitOptions {
  /** Bytes per chunk (a multiple of 4 KiB). */
  chunkBytes?: number;
  /** Chunks in the ring. */
  depth?: number;
  /**
   * The smallest chunk the ring may shrink to when the region (or a quota) has no room for the one asked:
   * its chunks are halved down to this before the open is refused. Unset: the ring asked, or a refusal.
   */
  minChunkBytes?: number;
  /** Ends any wait (for room, for the receiver) with an Interrupted error when aborted. */
  signal?: AbortSignal | undefined;
  /** The stream's size when known in advance (a regular file): told to the receiver, for its progress. */
  expectedBytes?: number | undefined;
  /**
   * A sender's open waits for the receiver of an earlier, unfinished transfer to let go (it does at its next
   * wait; one that neither receives nor closes holds it without end): called with its client id when that
   * wait begins, and with undefined once it has let go.
   */
  onHeldBack?: ((receiver: number | undefined) => void) | undefined;
}

interface RingShape {
  depth: number;
  chunkBytes: number;
  /** Down to which a ring that finds no room halves its chunks (`chunkBytes` itself: it does not). */
  minChunkBytes: number;
}

/** What ChannelSender.open() takes (ChannelOptions). */
const SENDER_OPTIONS = [
  ...["chunkBytes", "depth", "minChunkBytes", "signal", "expectedBytes", "onHeldBack"],
  ...["roomWaitMs", "onRoomWait"],
];

/**
 * The shape `options` ask for (the defaults where they say nothing), the arguments checked first; refused
 * before anything is claimed.
 */
export function ringShape(client: ChannelClient, name: string, options: ChannelOptions): RingShape {
  checkEndArguments(client, name, options, SENDER_OPTIONS);
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const depth = options.depth ?? DEFAULT_DEPTH;
  checkGeometry(name, chunkBytes, depth);
  checkRoomWait(name, options.roomWaitMs);
  // Told on every data record: one that is not a whole number ended the first publish in a bare RangeError.
  const { expectedBytes } = options;
  if (expectedBytes !== undefined && !(Number.isSafeInteger(expectedBytes) && expectedBytes >= 0))
    throw failure(
      "InvalidArgument",
      `open channel '${name}'`,
      `its expectedBytes ${String(expectedBytes)} is not a byte count (a whole number from 0), nor left out for a stream of unknown size`,
    );
  return { depth, chunkBytes, minChunkBytes: shrinkLimit(name, options.minChunkBytes, chunkBytes) };
}

/** `minChunkBytes` checked: a whole number of pages, at most the chunk asked (then no shrinking). */
function shrinkLimit(name: string, minChunkBytes: unknown, chunkBytes: number): number {
  if (minChunkBytes === undefined) return chunkBytes;
  const pages = Number.isSafeInteger(minChunkBytes) ? (minChunkBytes as number) / PAGE_SIZE : 0;
  if (!(Number.isInteger(pages) && pages >= 1))
    throw failure(
      "InvalidArgument",
      `open channel '${name}'`,
      `its minChunkBytes ${String(minChunkBytes)} is not a multiple of ${PAGE_SIZE} bytes from ${PAGE_SIZE} on`,
    );
  return Math.min(pages * PAGE_SIZE, chunkBytes);
}

/** A new ring for the next transfer on `slot` (whose sender role we hold), populated and announced. */
export async function publishRing(
  client: ChannelClient,
  slot: ChannelSlot,
  name: string,
  shape: RingShape,
  options: Pick<ChannelOptions, "signal" | "onHeldBack" | "roomWaitMs" | "onRoomWait">,
): Promise<{ ring: Ring; transfer: number }> {
  // What a full journal kept this client holding at a failure: room for the ring, maybe.
  await giveBackRefused(client, "send", name, options.signal);
  await awaitOldReceiverGone(slot, name, options);
  const room = new RoomWaiter(options, `send on channel '${name}'`, client.arbiterLink);
  const { segment, transfer, chunkBytes, refusal } = await allocateRing(
    client,
    slot,
    name,
    shape,
    room,
    options.signal,
  ).catch((error: unknown) => {
    const reason = isIvshError(error, "NoSpace")
      ? "noSpace"
      : isIvshError(error, "QuotaExceeded")
        ? "quota"
        : isIvshError(error, "JournalFull") && "journal";
    if (reason) leaveSetupFailure(slot, client, reason);
    throw error;
  });
  const ring = new Ring(segment, shape.depth, chunkBytes);
  if (refusal) noteShrink(ring, shape.chunkBytes, refusal);
  // A region truncated under us fails this first (EFAULT): said as what it is, as for a chunk. The ring
  // goes back: it stayed this client's, in a region told broken, until the client closed.
  try {
    ring.populate(true);
  } catch (error) {
    leaveSetupFailure(slot, client, "other");
    const action = `send on channel '${name}'`;
    throw await failedGivingBack(client, segment, slot.chunkFailure(error, action), action);
  }
  publish(slot, ring, transfer);
  return { ring, transfer };
}

/**
 * A receiver waiting for a transfer was left waiting, unaware, by a sender that could not set its ring up
 * (it timed out "no sender showed up"): told why in the slot (layout.ts setupFailureNote), and woken.
 */
function leaveSetupFailure(slot: ChannelSlot, client: ChannelClient, reason: SetupFailureReason): void {
  slot.store("senderParked", setupFailureNote(reason, client.clientId));
  slot.wake("transfer", WAKE_ALL);
}

/**
 * A receiver still attached to an earlier transfer that never finished (its sender abandoned it or died)
 * may yet store to the counters we are about to reset. It notices the abandonment at its next wait and
 * lets go; publishing before that would let its late stores corrupt the new transfer.
 */
async function awaitOldReceiverGone(
  slot: ChannelSlot,
  name: string,
  { signal, onHeldBack }: Pick<ChannelOptions, "signal" | "onHeldBack">,
): Promise<void> {
  const { streaming, abandoned } = ChannelState;
  const unfinished = () => {
    const state = slot.load("state");
    // Attached: the receiver that joined the last transfer still holds the role (not a newer one waiting).
    const joined = slot.load("receiverJoined") === slot.load("transfer");
    const attached = joined && slot.holder("receiver").owner === (slot.load("receiverId") & LOCK_OWNER_MASK);
    return attached && (state === streaming || state === abandoned);
  };
  if (!unfinished()) return;
  slot.compareExchange("state", streaming, abandoned);
  slot.wake("head", WAKE_ALL);
  onHeldBack?.(slot.load("receiverId") & LOCK_OWNER_MASK);
  while (unfinished()) {
    throwIfAborted(signal, `send on channel '${name}'`);
    await Bun.sleep(OLD_RECEIVER_POLL_MS);
  }
  onHeldBack?.(undefined);
}

function checkGeometry(name: string, chunkBytes: number, depth: number): void {
  const problem = ringGeometryProblem(chunkBytes, depth);
  if (problem) throw failure("InvalidArgument", `open channel '${name}'`, problem);
}

/**
 * A ring segment under a name no earlier transfer used (a slow receiver may still hold an old one), and
 * its chunk size. A region (or quota) without room for it gets a ring of halved chunks, down to the
 * shape's `minChunkBytes`; past that, it waits for room as `room` allows, then the refusal says which
 * flags make it smaller.
 */
async function allocateRing(
  client: ChannelClient,
  slot: ChannelSlot,
  name: string,
  shape: RingShape,
  room: RoomWaiter,
  signal: AbortSignal | undefined,
) {
  let { chunkBytes } = shape;
  /** The last no-room refusal that halved the chunks: what the sender names as having had no room. */
  let refusal: IvshError | undefined;
  let transfer = slot.load("transfer");
  for (let collisions = 0; ; ) {
    // 1 to 2^31 - 1, skipping 0 ("none yet"): the slot's words are Int32, and a number past 2^31 - 1 would
    // read back negative, so the receiver would name another ring and the sender never see it joined.
    transfer = (transfer + 1) & 0x7fffffff || 1;
    const bytes = Ring.bytesNeeded(shape.depth, chunkBytes);
    try {
      // Let go of once the signal ends the wait for it: see claimRole.
      const allocating = client.allocLettingGo(bytes, { name: ringSegmentName(name, transfer) }, signal);
      // Answered after an abort, and its free refused by a full journal: kept to try again (refused-frees.ts).
      const segment = await abortable(allocating, signal, `send on channel '${name}'`, (late) =>
        giveBack(client, late, signal),
      );
      return { segment, transfer, chunkBytes, refusal };
    } catch (error) {
      const noRoom = isIvshError(error, "NoSpace") || isIvshError(error, "QuotaExceeded");
      if (noRoom && chunkBytes > shape.minChunkBytes) {
        // The region's free blocks (and their runs) are known only to the arbiter: asked again, smaller.
        chunkBytes = Math.max(shape.minChunkBytes, alignUp(chunkBytes / 2, PAGE_SIZE));
        refusal = error;
        continue;
      }
      const { blockSize } = client.geometry;
      const blocks = ringBlocks(shape.depth, chunkBytes, blockSize);
      const free = noRoom && (await room.askAgain(error, blocks, (letGo) => roomOf(client, error, letGo)));
      if (free) {
        // Asked again in the largest form the free blocks hold (a run of them may still be missing).
        chunkBytes = shape.chunkBytes;
        while (chunkBytes > shape.minChunkBytes && ringBlocks(shape.depth, chunkBytes, blockSize) > free)
          chunkBytes = Math.max(shape.minChunkBytes, alignUp(chunkBytes / 2, PAGE_SIZE));
        if (chunkBytes === shape.chunkBytes) refusal = undefined;
        continue;
      }
      if (noRoom)
        throw noRoomFor(error, name, shape.depth, chunkBytes, client.geometry.blockSize, room.waited);
      // The region had room: the arbiter could not record the ring. A larger --size would not help.
      if (isIvshError(error, "JournalFull"))
        throw failure(
          "JournalFull",
          `open channel '${name}'`,
          `the arbiter could not record its ring: ${reasonOf(error)}`,
        );
      if (!isIvshError(error, "AlreadyExists") || ++collisions > 17) throw error;
    }
  }
}

/**
 * A ring the region (or a quota) has no room for, with what would make room: a smaller ring only while it
 * takes more than one block (a ring of one block has no smaller form), else more room. Of 4 KiB chunks
 * (where a default ring ends), only a smaller depth is left, and it is named with the chunk: --depth alone
 * is a ring of the default 1 MiB chunks, refused again.
 */
function noRoomFor(
  error: IvshError,
  name: string,
  depth: number,
  chunkBytes: number,
  blockSize: number,
  waited: string,
) {
  const bytes = Ring.bytesNeeded(depth, chunkBytes);
  const flags =
    chunkBytes > PAGE_SIZE
      ? `a smaller --chunk-size or --depth${libraryForm(" (in the library: chunkBytes, depth)")}`
      : `a smaller --depth with --chunk-size ${formatSizeFlag(PAGE_SIZE)}${libraryForm(` (in the library: depth, with chunkBytes ${PAGE_SIZE})`)}`;
  const smaller = bytes > blockSize ? `pass ${flags}, or ` : "";
  return failure(
    error.code,
    `open channel '${name}' with a ring of ${depth} chunks of ${formatBytes(chunkBytes)} (${formatBytes(bytes)})`,
    `${error.message.replace(/^Failed to .*? since /, "").replace(/ \([^()]*\)$/, "")}${waited}; ${smaller}start the arbiter with a larger ${largerFlag(error)}`,
  );
}

/** Resets the counters and announces the ring; the transfer number is written last. */
function publish(slot: ChannelSlot, ring: Ring, transfer: number): void {
  slot.store("head", 0);
  slot.store("tail", 0);
  slot.store("depth", ring.depth);
  slot.store("chunkBytes", ring.chunkBytes);
  slot.store("ringSegment", ring.segment.id);
  // A confirmation left by the previous transfer's receiver must not pass for this one's.
  slot.store("confirmation", 0);
  slot.store("state", ChannelState.streaming);
  slot.store("transfer", transfer);
  slot.wake("transfer", WAKE_ALL);
}
