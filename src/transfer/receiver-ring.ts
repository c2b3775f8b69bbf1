/**
 * What a receiver does before its first record (receiver.ts): wait for a transfer to join, and open and
 * check the ring its slot announces.
 */
import { failure } from "../errors.ts";
import {
  ChannelState,
  readSetupFailure,
  ringSegmentName,
  type SetupFailureReason,
} from "../region/layout.ts";
import { abortable } from "./abortable.ts";
import type { ChannelClient } from "./channel-client.ts";
import { failedGivingBack, giveBack } from "./refused-frees.ts";
import { Ring, ringGeometryProblem } from "./ring.ts";
import type { ChannelSlot } from "./slot.ts";
import { waitForChange } from "./wait.ts";

/** What `openRing` found: the transfer's ring, or none (`kept`: what a refused free left held, refused-frees.ts). */
export interface RingFound {
  ring?: Ring;
  kept?: string;
}

/**
 * Opens the transfer's ring, checking the geometry the slot announces against the segment it names.
 * No ring if the segment under the ring's name is not the one the slot announces: its sender freed the
 * ring (it gave up, or died) before we opened it, and another client took the name since.
 */
export async function openRing(
  client: ChannelClient,
  slot: ChannelSlot,
  name: string,
  transfer: number,
  signal?: AbortSignal,
): Promise<RingFound> {
  const depth = slot.load("depth");
  // A u32 in an Int32 word: 2 GiB, the largest chunk ringGeometryProblem allows, reads as -2^31 signed.
  const chunkBytes = slot.load("chunkBytes") >>> 0;
  const announced = slot.load("ringSegment") >>> 0;
  // Let go of once the signal ends the wait for it: see claimRole.
  const opening = client.openLettingGo(ringSegmentName(name, transfer), "read", signal);
  // Answered after an abort, and its free refused by a full journal: kept to try again, as below.
  const segment = await abortable(opening, signal, `receive on channel '${name}'`, (late) =>
    giveBack(client, late, signal),
  );
  // Segment ids are not reused while in use, nor soon after (state.ts freeSegmentId): another id is
  // another segment, whose bytes are not this transfer's (its geometry was blamed on an overwrite).
  if (segment.id !== announced) return { kept: await giveBack(client, segment) };
  const problem =
    ringGeometryProblem(chunkBytes, depth) ??
    (Ring.bytesNeeded(depth, chunkBytes) > segment.byteLength
      ? `a ring of ${depth} × ${chunkBytes} bytes does not fit its ${segment.byteLength}-byte segment`
      : undefined);
  if (!problem) {
    const ring = new Ring(segment, depth, chunkBytes);
    // A region truncated under us fails this first (EFAULT): said as what it is, as for a chunk. The ring
    // goes back: it stayed this client's until the client closed, a sender's ring it would never read.
    try {
      ring.populate(false);
    } catch (error) {
      const action = `receive on channel '${name}'`;
      throw await failedGivingBack(client, segment, slot.chunkFailure(error, action), action);
    }
    return { ring };
  }
  const kept = await giveBack(client, segment);
  throw failure(
    "RegionCorrupted",
    `receive on channel '${name}'`,
    `${problem}: the region was overwritten${kept ? `; ${kept}` : ""}`,
  );
}

/** How long a transfer to join may stay under an unchanged number before a parked receiver joins it. */
const PUBLISH_SETTLE_MS = 100;

/**
 * The transfer a sender has published on the slot and no receiver has joined yet (0: none): a receiver
 * that finds one has its sender there, whether or not it has joined it yet.
 */
export function unjoinedTransfer(slot: ChannelSlot): number {
  const transfer = slot.load("transfer");
  const streaming = slot.load("state") === ChannelState.streaming;
  return transfer !== 0 && streaming && slot.load("receiverJoined") !== transfer ? transfer : 0;
}

/**
 * The transfer to join: one that is streaming and that no receiver joined before (we get it from its
 * start). An abort wakes the park (waitForChange). Found by a receiver that may have been frozen past its
 * lease (stopped while it waited, the sender's wake read as it resumes), the lease is confirmed first: a
 * session the arbiter expired meanwhile joined the transfer (the slot's words are still mapped), and the
 * sender saw that receiver leave at once and failed. The signal ends that confirmation too: with the arbiter
 * stopped as well, it is answered by nobody, and Ctrl-C went unheeded until the 30 s reconnect timeout.
 */
export async function awaitTransfer(
  slot: ChannelSlot,
  onWaiting?: () => void,
  signal?: AbortSignal,
  onSenderFailed?: (failed: SenderSetupFailure) => void,
): Promise<number> {
  takeSetupFailure(slot); // left before we came: not about this wait
  let unjoinedSince: number | undefined;
  const check = () => {
    const failed = takeSetupFailure(slot);
    if (failed) onSenderFailed?.(failed);
    // A transfer to join under the number we park on: its `state` changed, not `transfer` (another guest's
    // overwrite, a sender gone between its two stores). Parked on, the limit waited for ever for our join
    // of it (run.ts onClaimed). Not at once: a sender publishing stores `state` a moment before `transfer`.
    if (unjoinedTransfer(slot) === 0) unjoinedSince = undefined;
    else unjoinedSince ??= performance.now();
    // Else we wait on: the sender role is free again, and another sender may come.
    return unjoinedSince !== undefined && performance.now() - unjoinedSince > PUBLISH_SETTLE_MS;
  };
  for (let told = false; ; ) {
    const transfer = slot.load("transfer");
    if (transfer !== 0 && unjoinedTransfer(slot) === transfer) {
      if (!slot.client.leaseInDoubt()) return transfer;
      // Throws LeaseExpired for an expired session; then looked at again. Nothing to undo if answered late.
      await slot.confirmLive(signal, `receive on channel '${slot.channel}'`);
      continue;
    }
    if (!told) onWaiting?.();
    told = true;
    // No peer to watch yet: senders may come and go; only a new transfer number matters here.
    await waitForChange({
      slot,
      word: "transfer",
      seen: transfer,
      parkedFlag: "receiverParked",
      signal,
      check,
    });
  }
}

/** A sender that could not set up its ring, as a waiting receiver is told of it (`onSenderFailed`). */
export interface SenderSetupFailure {
  /** The sender's client id; undefined if too large for the note (past 2^28 - 1). */
  clientId: number | undefined;
  reason: SetupFailureReason;
  /** Why, for people: "the region had no room for its ring (...)". */
  description: string;
}

const SETUP_FAILURES: Record<SetupFailureReason, string> = {
  // A sender gives up so after waiting for room other clients held (room-wait.ts), not only for a ring too large.
  noSpace:
    "the region had no room for its ring (other clients held it, or it needs a smaller --chunk-size or --depth, or a larger --size)",
  quota:
    "its ring would pass its quota (a smaller --chunk-size or --depth, or a larger --client-quota or --vm-quota, fits it)",
  other: "its ring could not be mapped in",
  // "Move --state" alone read as "restart it with another --state", which discards every allocation.
  journal:
    "the arbiter's state journal could not record it, its file system being full (free space where the arbiter's --state is, " +
    "or stop the arbiter, move its --state file with its contents to a file system with room and pass its new path as --state: " +
    "a new --state without them discards every allocation)",
};

/** The note a failing sender left in the slot, claimed (CAS to 0) so that it is told once. */
function takeSetupFailure(slot: ChannelSlot): SenderSetupFailure | undefined {
  const word = slot.load("senderParked");
  const note = readSetupFailure(word);
  if (!note || slot.compareExchange("senderParked", word, 0) !== word) return undefined;
  const { clientId, reason } = note;
  return { clientId: clientId || undefined, reason, description: SETUP_FAILURES[reason] };
}

/** "a sender (client 7) could not set up its ring: ...". */
export function senderFailedLine({ clientId, description }: SenderSetupFailure): string {
  return `a sender${clientId ? ` (client ${clientId})` : ""} could not set up its ring: ${description}`;
}

/**
 * At a receiver's limit: a sender that holds the channel's sender end but published no transfer to join,
 * as one waiting for room for its ring does (room-wait.ts) for up to its own --timeout.
 */
export function pendingSenderLine(slot: ChannelSlot): string | undefined {
  const { owner } = slot.holder("sender");
  if (owner === 0) return undefined;
  return (
    `a sender (client ${owner}) holds the channel but set up no ring in that time (it waits for room in ` +
    "the region while other clients hold its blocks, or it is stopped; `ivsh status` shows both)"
  );
}
