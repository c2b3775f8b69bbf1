/**
 * Parked waiters, keyed by the global index of the word they wait on: the arbiter side of the cross-VM
 * futex. The server decides whether to park (by reading the word); this only keeps the queues, fires
 * timeouts and hands out wake-ups in FIFO order.
 */
import { WAIT_FOREVER, WaitOutcome } from "../protocol/messages.ts";
import { LONGEST_TIMER_MS } from "../units.ts";
import { ITEMS_PER_YIELD } from "./slices.ts";

/**
 * Waits one session may have parked at once. Each costs the arbiter about 560 bytes: without a limit, one
 * client sending waits it never wakes (400 000 took the arbiter from 47 to 270 MiB in 1.5 s) could grow
 * it until the kernel killed it, and every client with it.
 */
export const MAX_PARKED_WAITS = 4096;

export interface Waiter {
  clientId: number;
  requestId: number;
  /** The value the word held when the waiter parked: any other value means it should be awake. */
  expected: number;
  /**
   * Delivers the outcome to the client (a reply frame). Called exactly once. False if it could not be
   * delivered: the connection is closing or its peer is gone, so a wake-up given to it would be lost to a
   * live waiter.
   */
  settle(outcome: number): boolean;
}

interface Parked extends Waiter {
  key: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export class WaitQueue {
  private readonly byKey = new Map<number, Set<Parked>>();
  private readonly byClient = new Map<number, Set<Parked>>();

  park(key: number, waiter: Waiter, timeoutMs: number): void {
    const parked: Parked = { ...waiter, key, timer: undefined };
    // setTimeout takes at most 2^31-1 ms (it fires after 1 ms beyond that): longer waits are clamped.
    if (timeoutMs !== WAIT_FOREVER)
      parked.timer = setTimeout(
        () => this.settle(parked, WaitOutcome.timedOut),
        Math.min(timeoutMs, LONGEST_TIMER_MS),
      );
    setOf(this.byKey, key).add(parked);
    setOf(this.byClient, waiter.clientId).add(parked);
  }

  /** Wakes up to `count` waiters on `key`, oldest first; returns how many. */
  wake(key: number, count: number): number {
    const queue = this.byKey.get(key);
    let woken = 0;
    if (!queue) return 0;
    for (const parked of queue) {
      if (woken >= count) break;
      if (this.settle(parked, WaitOutcome.woken)) woken++;
    }
    return woken;
  }

  /** Removes a client's waiters without answering them (its connection is gone). */
  dropClient(clientId: number): void {
    for (const parked of this.byClient.get(clientId) ?? []) this.remove(parked);
  }

  /** Removes and answers every waiter of a client, e.g. with an error when its lease expired. */
  settleClient(clientId: number, settle: (waiter: Waiter) => void): void {
    for (const parked of this.byClient.get(clientId) ?? []) {
      this.remove(parked);
      settle(parked);
    }
  }

  /**
   * Wakes every waiter whose word no longer holds what it parked on. A waker that changed the word but
   * skipped WAKE (its view of who waits was overwritten, or it died between the two) would otherwise
   * leave it parked for good; this bounds such a lost wake-up to one sweep. Yields between groups of words:
   * the sweep runs it a slice at a time (./slices.ts), reading each word when its turn comes.
   */
  *recheckInSteps(load: (key: number) => number): Generator<void, number> {
    let woken = 0;
    let keys = 0;
    // A Map's iterator goes on past entries deleted meanwhile and reaches ones added: safe across yields.
    for (const [key, queue] of this.byKey) {
      const value = load(key);
      for (const parked of queue)
        if (parked.expected !== value) {
          this.settle(parked, WaitOutcome.valueChanged);
          woken++;
        }
      if (++keys % ITEMS_PER_YIELD === 0) yield;
    }
    return woken;
  }

  /**
   * Drops every waiter unanswered, their timers cleared: the arbiter is stopping (its connections close,
   * the sessions stay in the state). A pending timer kept the stopped process alive until it fired: up to
   * a wait's whole timeout (a channel end's 500 ms park slice, a library wait's own limit).
   */
  clear(): void {
    for (const queue of this.byKey.values()) for (const parked of queue) this.remove(parked);
  }

  /** How many waits `clientId` has parked now. */
  parkedBy(clientId: number): number {
    return this.byClient.get(clientId)?.size ?? 0;
  }

  count(key: number): number {
    return this.byKey.get(key)?.size ?? 0;
  }

  private settle(parked: Parked, outcome: number): boolean {
    this.remove(parked);
    return parked.settle(outcome);
  }

  private remove(parked: Parked): void {
    if (parked.timer) clearTimeout(parked.timer);
    deleteFrom(this.byKey, parked.key, parked);
    deleteFrom(this.byClient, parked.clientId, parked);
  }
}

function setOf<K, V>(map: Map<K, Set<V>>, key: K): Set<V> {
  const existing = map.get(key);
  if (existing) return existing;
  const created = new Set<V>();
  map.set(key, created);
  return created;
}

function deleteFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}
