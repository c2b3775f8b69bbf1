/**
 * How a channel end waits for its peer. A park (WAIT in the arbiter, then its WAKE) costs around a
 * hundred microseconds here, more than moving a megabyte, so it is the last resort: first spin on the
 * shared word, then keep spinning but yield the core on each round (another thread of ours, or the
 * arbiter, may need it to make progress), and only after YIELD_NANOSECONDS park.
 *
 * Parking: we raise our "parked" flag, then re-read the word; the peer publishes the word, then claims
 * the flag (CAS 1 -> 0) and sends WAKE only if it got it. All these are sequentially consistent atomics,
 * so either we see the new value and do not park, or the peer sees the flag and wakes us; and a waiter
 * costs the peer at most one WAKE per park.
 *
 * While waiting it watches the peer's lock word: if the peer died (OWNER_DIED, set by the arbiter, which
 * also wakes us) or was replaced, the wait ends with PeerGone instead of hanging.
 */
import { failure, throwIfAborted } from "../errors.ts";
import { yieldProcessor } from "../ffi/index.ts";
import { ChannelWord } from "../region/layout.ts";
import type { ChannelSlot, ChannelWordName } from "./ring.ts";

const SPIN_NANOSECONDS = 50_000;
const YIELD_NANOSECONDS = 2_000_000;
/** A parked wait is re-issued this often, so peer checks and heartbeats keep running. */
const PARK_SLICE_MS = 500;

export type PeerRole = "sender" | "receiver";

/** The other end of a channel, as seen in its lock word. */
export class Peer {
  constructor(
    private readonly slot: ChannelSlot,
    readonly role: PeerRole,
    readonly channel: string,
    /** Its client id once it has attached; 0 before (it is learnt on the first check that sees it). */
    public id = 0,
  ) {}

  /** Learns the peer's id if it has attached; returns why it is gone if it died or let go. */
  gone(): string | undefined {
    const { owner, died } = this.slot.holder(this.role);
    if (this.id === 0) {
      if (owner !== 0) this.id = owner;
      return undefined;
    }
    if (owner === this.id) return undefined;
    const what = died ? "died (its connection closed or its lease expired)" : "went away before the end";
    return `the ${this.role} (client ${this.id}) ${what}`;
  }
}

/**
 * Waits until `word` differs from `seen`. `peer`, if given, is checked while waiting; `parkedFlag` tells
 * the peer to send WAKE when it changes the word.
 */
export async function waitForChange(
  slot: ChannelSlot,
  word: ChannelWordName,
  seen: number,
  parkedFlag: ChannelWordName,
  peer?: Peer,
  signal?: AbortSignal,
): Promise<void> {
  if (spinForChange(slot, word, seen, peer)) return;
  try {
    for (;;) {
      slot.store(parkedFlag, 1);
      if (slot.load(word) !== seen) return;
      checkPeer(slot, word, seen, peer);
      throwIfAborted(signal, `wait on channel '${peer?.channel ?? "?"}'`);
      slot.client.keepAlive();
      await slot.client.waitWord(slot.slot, ChannelWord[word], seen, PARK_SLICE_MS);
    }
  } finally {
    slot.store(parkedFlag, 0);
  }
}

/**
 * A peer publishes its last word before it lets go of its lock, so a peer that is gone while the word
 * still holds `seen` (read after seeing it gone) is gone for good; one that changed the word first is not.
 */
function checkPeer(slot: ChannelSlot, word: ChannelWordName, seen: number, peer: Peer | undefined): void {
  const reason = peer?.gone();
  if (reason && slot.load(word) === seen)
    throw failure("PeerGone", `transfer on channel '${peer?.channel}'`, reason);
}

/** After changing a word the peer may be parked on: wakes it, at most once per park. */
export function wakeIfParked(slot: ChannelSlot, word: ChannelWordName, parkedFlag: ChannelWordName): void {
  if (Atomics.compareExchange(slot.client.words, slot.index(parkedFlag), 1, 0) === 1) slot.wake(word);
}

function spinForChange(slot: ChannelSlot, word: ChannelWordName, seen: number, peer?: Peer): boolean {
  const index = slot.index(word);
  const words = slot.client.words;
  const started = Bun.nanoseconds();
  for (let round = 1; ; round++) {
    if (Atomics.load(words, index) !== seen) return true;
    if ((round & 255) !== 0) continue;
    checkPeer(slot, word, seen, peer);
    const spent = Bun.nanoseconds() - started;
    if (spent > YIELD_NANOSECONDS) return false;
    if (spent > SPIN_NANOSECONDS) yieldProcessor();
  }
}
