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
import { failure, type IvshError, throwIfAborted } from "../errors.ts";
import { yieldProcessor } from "../ffi/index.ts";
import { ChannelWord, LOCK_OWNER_MASK } from "../region/layout.ts";
import type { ChannelSlot, ChannelWordName } from "./ring.ts";

const SPIN_NANOSECONDS = 50_000;
const YIELD_NANOSECONDS = 2_000_000;
/** A parked wait is re-issued this often, so peer checks and heartbeats keep running. */
const PARK_SLICE_MS = 500;
/** How often a channel end busy with its own input or output looks whether its peer is still there. */
const PEER_WATCH_MS = 50;

export type PeerRole = "sender" | "receiver";

/** What a peer's lock word holds once it no longer names the peer. */
export interface Departure {
  owner: number;
  died: boolean;
}

/** How long a channel end waits for the arbiter's view when it must tell a dead peer from a scribble. */
const STATUS_TIMEOUT_MS = 2000;

/**
 * The other end of a channel, as seen in its lock word. A peer is watched from the moment it attached:
 * `attachedId` says who that is (0 while nobody has), and once known the id is kept, so a peer that
 * attached and left between two looks is still seen gone.
 */
export class Peer {
  private id = 0;

  constructor(
    private readonly slot: ChannelSlot,
    readonly role: PeerRole,
    readonly channel: string,
    private readonly attachedId: () => number,
  ) {}

  /** A peer whose id is known from the start (the receiver knows its sender when it joins). */
  static attached(slot: ChannelSlot, role: PeerRole, channel: string, id: number): Peer {
    return new Peer(slot, role, channel, () => id);
  }

  /** What its lock word holds if the peer attached and no longer holds it; undefined while it does. */
  departure(): Departure | undefined {
    if (this.id === 0) this.id = this.attachedId() & LOCK_OWNER_MASK;
    if (this.id === 0) return undefined;
    const holder = this.slot.holder(this.role);
    return holder.owner === this.id ? undefined : holder;
  }

  /**
   * The error for a departure. A lock word marked owner-died while the arbiter still has the peer as a
   * client, or naming a client that does not exist, was overwritten (another guest scribbled on the slot):
   * RegionCorrupted. Otherwise the peer really left: PeerGone.
   */
  async goneError({ owner, died }: Departure): Promise<IvshError> {
    const action = `transfer on channel '${this.channel}'`;
    const who = `the ${this.role} (client ${this.id})`;
    if (owner === 0 && !died) return failure("PeerGone", action, `${who} went away before the end`);
    const clients = await this.liveClients();
    if (died && clients?.has(this.id))
      return failure(
        "RegionCorrupted",
        action,
        `${who} is alive but its lock word says it died: the region was overwritten`,
      );
    if (owner !== 0 && clients && !clients.has(owner))
      return failure(
        "RegionCorrupted",
        action,
        `${who}'s lock word names client ${owner}, which does not exist: the region was overwritten`,
      );
    if (owner !== 0)
      return failure(
        "PeerGone",
        action,
        `${who} went away before the end (client ${owner} holds that end now)`,
      );
    return failure("PeerGone", action, `${who} died (its connection closed or its lease expired)`);
  }

  /** The arbiter's live clients; undefined if it does not answer in time (then we take the word's word). */
  private async liveClients(): Promise<Set<number> | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), STATUS_TIMEOUT_MS);
    });
    try {
      const report = await Promise.race([this.slot.client.status(), timeout]);
      return report && new Set(report.clients.map((client) => client.clientId));
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * A signal that aborts when `signal` does, or with PeerGone once `peer` is seen gone: for the time a
 * channel end spends waiting on its own input or output (an idle pipe), where no channel wait watches.
 */
export function abortWhenGone(peer: Peer, signal?: AbortSignal): { signal: AbortSignal; stop(): void } {
  const controller = new AbortController();
  let judging = false;
  const timer = setInterval(() => {
    const departure = judging ? undefined : peer.departure();
    if (!departure) return;
    judging = true;
    peer.goneError(departure).then((error) => controller.abort(error));
  }, PEER_WATCH_MS);
  timer.unref();
  return {
    signal: signal ? AbortSignal.any([signal, controller.signal]) : controller.signal,
    stop: () => clearInterval(timer),
  };
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
  const spun = spinForChange(slot, word, seen, peer);
  if (spun === "changed") return;
  if (spun !== "park") throw await peer!.goneError(spun);
  try {
    for (;;) {
      slot.store(parkedFlag, 1);
      if (slot.load(word) !== seen) return;
      const departure = departed(slot, word, seen, peer);
      if (departure) throw await peer!.goneError(departure);
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
function departed(
  slot: ChannelSlot,
  word: ChannelWordName,
  seen: number,
  peer: Peer | undefined,
): Departure | undefined {
  const departure = peer?.departure();
  return departure && slot.load(word) === seen ? departure : undefined;
}

/** After changing a word the peer may be parked on: wakes it, at most once per park. */
export function wakeIfParked(slot: ChannelSlot, word: ChannelWordName, parkedFlag: ChannelWordName): void {
  if (Atomics.compareExchange(slot.client.words, slot.index(parkedFlag), 1, 0) === 1) slot.wake(word);
}

/** Spins until the word changes ("changed"), the peer departs, or it is time to park ("park"). */
function spinForChange(
  slot: ChannelSlot,
  word: ChannelWordName,
  seen: number,
  peer?: Peer,
): "changed" | "park" | Departure {
  const index = slot.index(word);
  const words = slot.client.words;
  const started = Bun.nanoseconds();
  for (let round = 1; ; round++) {
    if (Atomics.load(words, index) !== seen) return "changed";
    if ((round & 255) !== 0) continue;
    const departure = departed(slot, word, seen, peer);
    if (departure) return departure;
    const spent = Bun.nanoseconds() - started;
    if (spent > YIELD_NANOSECONDS) return "park";
    if (spent > SPIN_NANOSECONDS) yieldProcessor();
  }
}
