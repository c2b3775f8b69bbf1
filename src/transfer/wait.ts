/**
 * How a channel end waits for its peer. A park (WAIT in the arbiter, then its WAKE) costs around a
 * hundred microseconds here, more than moving a megabyte, so it is the last resort: first spin on the
 * shared word, then keep spinning but yield the core on each round (another thread of ours, or the
 * arbiter, may need it to make progress), and only after YIELD_NANOSECONDS park.
 *
 * A peer in another VM (the host counts as one) is napped for before parking: the word is looked at after
 * each NAP_MS timer for up to NAP_FOR_MS, with our parked flag down, so the peer sends no WAKE. Across a
 * VM's NIC a park's WAKE is a network send in the guest (under TCG ~2 ms of its only vCPU per chunk) and
 * then a round trip through the VM's user-mode network and the arbiter, 5–50 ms; a nap sees the word
 * within about a millisecond and costs the waiter a timer per millisecond (docs/bench/transfer-path.md,
 * "Waits across a VM's NIC").
 *
 * Parking: we raise our "parked" flag, then re-read the word; the peer publishes the word, then claims
 * the flag (CAS 1 -> 0) and sends WAKE only if it got it. All these are sequentially consistent atomics,
 * so either we see the new value and do not park, or the peer sees the flag and wakes us; and a waiter
 * costs the peer at most one WAKE per park.
 *
 * While waiting it watches the peer (peer.ts) and runs the caller's own check, which throws when a word
 * the caller owns was overwritten, or ends the wait when the transfer itself ended.
 */
import { throwIfAborted } from "../errors.ts";
import { yieldProcessor } from "../ffi/index.ts";
import { ChannelWord, WAKE_ALL } from "../region/layout.ts";
import type { Departure, Peer } from "./peer.ts";
import type { ChannelSlot, ChannelWordName } from "./slot.ts";

const SPIN_NANOSECONDS = 50_000;
const YIELD_NANOSECONDS = 2_000_000;
/** A parked wait is re-issued this often, so peer checks, the caller's check and heartbeats keep running. */
const PARK_SLICE_MS = 500;
/** A nap's timer, and how long a wait for a peer in another VM naps before it parks. */
const NAP_MS = 1;
const NAP_FOR_MS = 200;

export interface ChannelWait {
  slot: ChannelSlot;
  /** Wait until this word no longer holds `seen`. */
  word: ChannelWordName;
  seen: number;
  /** Our "parked" flag: tells the peer to send WAKE when it changes the word. */
  parkedFlag: ChannelWordName;
  peer?: Peer | undefined;
  signal?: AbortSignal | undefined;
  /**
   * Run with the peer check: throws if what the caller owns no longer holds (e.g. its own counter was
   * overwritten: two ends waiting on each other for ever), returns true to end the wait early.
   */
  check?: (() => boolean) | undefined;
}

/** Waits until the word changes, the caller's check ends the wait, or throws (peer gone, abort, check). */
export async function waitForChange(wait: ChannelWait): Promise<void> {
  const { slot, word, seen, parkedFlag, peer, signal } = wait;
  const spun = spinForChange(wait);
  if (spun === "changed") return;
  if (spun !== "park") throw await peer!.goneError(spun);
  if (peer?.inOtherVm() && (await napForChange(wait))) return;
  // A park lasts up to a slice: an abort wakes it, so it is seen at once, not at the slice's end.
  const stopWaking = wakeOnAbort(slot, word, signal);
  try {
    for (;;) {
      slot.throwIfLost(); // a lost session's ring is withdrawn: the caller must not go on to read it
      slot.store(parkedFlag, 1);
      if (slot.load(word) !== seen) return;
      const departure = departed(wait);
      if (departure) throw await peer!.goneError(departure);
      if (wait.check?.()) return;
      throwIfAborted(signal, `wait on channel '${slot.channel}'`);
      slot.client.keepAlive();
      // Let go of with the abort, which ends the await: a park a stopped arbiter never answers kept a
      // script that caught the end's error, and forgot close(), alive.
      const parked = slot.client.waitWord(slot.slot, ChannelWord[word], seen, PARK_SLICE_MS, signal);
      await untilAborted(parked, signal);
    }
  } finally {
    stopWaking();
    // A client closed meanwhile has no slot words mapped: the error that ended the wait is the one to tell.
    if (!slot.client.isClosed) slot.store(parkedFlag, 0);
  }
}

/**
 * Looks at the word after each NAP_MS timer, for up to NAP_FOR_MS; true once it changed or the check ended
 * the wait, false if it is time to park. Our parked flag stays down: the peer sends no WAKE for a nap.
 */
async function napForChange(wait: ChannelWait): Promise<boolean> {
  const { slot, word, seen, peer, signal } = wait;
  const until = performance.now() + NAP_FOR_MS;
  while (performance.now() < until) {
    await Bun.sleep(NAP_MS);
    // A lost session's or a closing client's ring is withdrawn: the caller must not go on to read it (a
    // park learns it from its waitWord).
    slot.throwIfWithdrawn("wait");
    if (slot.load(word) !== seen) return true;
    const departure = departed(wait);
    if (departure) throw await peer!.goneError(departure);
    if (wait.check?.()) return true;
    throwIfAborted(signal, `wait on channel '${slot.channel}'`);
    slot.client.keepAlive();
  }
  return false;
}

/**
 * A peer publishes its last word before it lets go of its lock, so a peer that is gone while the word
 * still holds `seen` (read after seeing it gone) is gone for good; one that changed the word first is not.
 */
function departed({ slot, word, seen, peer }: ChannelWait): Departure | undefined {
  const departure = peer?.departure();
  return departure && slot.load(word) === seen ? departure : undefined;
}

/** After changing a word the peer may be parked on: wakes it, at most once per park. */
export function wakeIfParked(slot: ChannelSlot, word: ChannelWordName, parkedFlag: ChannelWordName): void {
  if (slot.compareExchange(parkedFlag, 1, 0) === 1) slot.wake(word);
}

/** Spins until the word changes or the check ends the wait ("changed"), the peer departs, or it is time to park. */
function spinForChange(wait: ChannelWait): "changed" | "park" | Departure {
  const index = wait.slot.index(wait.word);
  const words = wait.slot.words;
  const started = Bun.nanoseconds();
  for (let round = 1; ; round++) {
    if (Atomics.load(words, index) !== wait.seen) return "changed";
    if ((round & 255) !== 0) continue;
    const departure = departed(wait);
    if (departure) return departure;
    if (wait.check?.()) return "changed";
    const spent = Bun.nanoseconds() - started;
    if (spent > YIELD_NANOSECONDS) return "park";
    if (spent > SPIN_NANOSECONDS) yieldProcessor();
  }
}

/**
 * Until the returned function is called, an abort of `signal` (--timeout, Ctrl-C) wakes whoever parks on
 * `word`: a park is re-issued only every half second, and the abort alone does not end it. A spurious
 * wake is harmless to anyone else parked there: every waiter re-checks its word.
 */
function wakeOnAbort(slot: ChannelSlot, word: ChannelWordName, signal?: AbortSignal): () => void {
  if (!signal) return () => {};
  const wake = () => {
    // A client closed meanwhile has nobody parked to wake.
    if (!slot.client.isClosed) slot.wake(word, WAKE_ALL);
  };
  signal.addEventListener("abort", wake, { once: true });
  return () => signal.removeEventListener("abort", wake);
}

/**
 * `parked`, or the abort if it comes first. The abort's wake goes through the arbiter, and one that
 * answers nothing (stopped with SIGSTOP, a paused host) kept a Ctrl-C or SIGTERM waiting until the
 * client gave up on the silent arbiter (30 s).
 */
function untilAborted(parked: Promise<unknown>, signal?: AbortSignal): Promise<unknown> {
  if (!signal) return parked;
  if (signal.aborted) {
    parked.catch(() => {}); // the abort is the outcome; a park failing later must not go unhandled
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener("abort", onAbort, { once: true });
    parked.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
