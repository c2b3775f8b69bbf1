/**
 * The sender's wait for a receiver to join its transfer. The joining receiver stores the transfer's
 * number in `receiverJoined`, then wakes us; until then nothing else we wait on can change. But that word
 * can be overwritten (IVSHMEM isolates nothing): waiting on it alone, a sender whose receiver had joined,
 * consumed everything and even given its verdict waited for ever (the soak, seed 1304 scenario 56).
 */
import { failure } from "../errors.ts";
import { ChannelState, WAKE_ALL } from "../region/layout.ts";
import type { ChannelSlot } from "./slot.ts";
import { waitForChange } from "./wait.ts";

/**
 * Returns once a receiver joined `transfer`, or once the transfer ended without our seeing it join (the
 * caller reads the state next and judges it). `check` is the caller's own (throws when a word it owns was
 * overwritten).
 */
export async function awaitReceiverJoined(
  slot: ChannelSlot,
  transfer: number,
  name: string,
  signal: AbortSignal | undefined,
  check: () => boolean,
): Promise<void> {
  for (;;) {
    const seen = slot.load("receiverJoined");
    if (seen === transfer || joinOverlooked(slot, transfer, name)) return;
    const settled = () => check() || joinOverlooked(slot, transfer, name);
    await waitForChange({
      slot,
      word: "receiverJoined",
      seen,
      parkedFlag: "senderParked",
      signal,
      check: settled,
    });
  }
}

/**
 * The client id of the receiver that joined `transfer`, 0 while none has. A joining receiver names itself
 * in `receiverId` before it marks the transfer joined, so a joined transfer naming nobody was overwritten:
 * we would have no receiver to watch, and wait for ever for one that never comes (a real one finds the
 * transfer taken, and waits too).
 */
export function joinedReceiver(slot: Pick<ChannelSlot, "load">, transfer: number, name: string): number {
  if (slot.load("receiverJoined") !== transfer) return 0;
  const receiverId = slot.load("receiverId");
  if (receiverId !== 0) return receiverId;
  throw failure(
    "RegionCorrupted",
    `send on channel '${name}'`,
    `the word naming the transfer a receiver joined holds ours (${transfer}), but no receiver named itself: the region was overwritten`,
  );
}

/**
 * Whether to stop waiting for a join we may never see: the transfer already has a verdict (the receiver's,
 * or an overwrite's: the caller judges it), or a receiver joined since the caller last read the word. A
 * receiver consuming records (only a joined one does) while the word names another transfer means it was
 * overwritten, and we could no longer tell which client to watch: the transfer is abandoned, unless the
 * receiver decided first (then its verdict stands, for the caller to read), so both ends tell one outcome.
 */
export function joinOverlooked(
  slot: Pick<ChannelSlot, "load" | "compareExchange" | "wake">,
  transfer: number,
  name: string,
): boolean {
  const state = slot.load("state");
  if (state !== ChannelState.streaming && state !== ChannelState.keeping) return true;
  if (slot.load("tail") === 0) return false;
  // Read after the tail: a receiver names its transfer before it consumes a record, so the word read now
  // holds ours unless it was overwritten. The value the caller read before may predate the join.
  const joined = slot.load("receiverJoined");
  if (joined === transfer) return true;
  const { streaming, abandoned } = ChannelState;
  if (slot.compareExchange("state", streaming, abandoned) !== streaming) return true;
  slot.wake("head", WAKE_ALL); // a parked receiver sees the abandon at once
  throw failure(
    "RegionCorrupted",
    `send on channel '${name}'`,
    `a receiver consumes our records, but the word naming the transfer it joined holds ${joined >>> 0}, not ${transfer}: the region was overwritten`,
  );
}
