/**
 * Mutex and condition variable in a 64-byte slot of the region, shared by every process and VM.
 *
 * The lock word (see region/layout.ts) holds the owner's client id, a WAITERS bit and an OWNER_DIED bit,
 * like a Linux robust futex. lock: one compare-and-swap when free (no system call, no RPC), an adaptive
 * spin while the holder is likely about to let go, then set WAITERS and park (parking.ts: on this kernel's
 * futex, or in the arbiter). unlock: one compare-and-swap back to 0; only if WAITERS was set does it look
 * for parked waiters to wake; a condvar's unlock then also pays the wake-ups its notifies under the lock
 * deferred. When a holder dies the arbiter swaps its id for OWNER_DIED, and the next lock() says so.
 *
 * Every Atomics operation here is sequentially consistent: a full barrier on x86, which is what makes
 * the protected data visible to the next owner in another process or VM.
 */
import { failure, hasTrait } from "../errors.ts";
import {
  LOCK_OWNER_DIED,
  LOCK_OWNER_MASK,
  LOCK_WAITERS,
  PARKABLE_WORDS,
  SlotWord,
  slotWordIndex,
} from "../region/layout.ts";
import { heldAlready, parkNamed, refuseWhileClosing, throwIfLockAborted } from "./park-named.ts";
import { type ParkDeadline, type Parker, type ParkingClient, ParkSite } from "./parking.ts";
import { deadlineOf, UNBOUNDED, type WaitBound, type WaitOptions, waitBound } from "./wait-options.ts";

export type { WaitOptions } from "./wait-options.ts";

/** What a mutex or condvar needs of its client: the slots, its id and session, parking, closing. */
export interface SlotOwner extends ParkingClient {
  readonly clientId: number;
  readonly parker: Parker;
  /** After close() the slots are unmapped, and the arbiter has released what the client held. */
  readonly isClosed: boolean;
  /** close() has begun: the arbiter may already have released the client's locks (its goodbye). */
  readonly isClosing: boolean;
  closeSlot(slot: number, keep?: boolean): Promise<void>;
  /** Whether this process may have been frozen past its lease without having heard so yet. */
  wasFrozen(): boolean;
}

/** "owner-died": the lock is yours, but its previous holder died holding it; its data may be half-updated. */
export type LockOutcome = "acquired" | "owner-died";

/** How a condition-variable wait ended; in every case the caller holds the lock again. */
export type WaitResult = "notified" | "timed-out" | "owner-died";

/** How a wait with no timeout ends: it cannot time out. */
export type UntimedWaitResult = Exclude<WaitResult, "timed-out">;

/** A mask: every 1024th uncontended lock checks whether the event loop is due a turn. */
const FAST_LOCKS_PER_CLOCK_CHECK = 1023;

/** What Mutex and CondVar (condvar.ts) share: a lock in a slot, the handle's checks. */
export abstract class SlotObject {
  protected readonly lockIndex: number;
  protected readonly lockSite: ParkSite;
  private readonly generationIndex: number;
  private closed = false;
  private fastLocks = 0;

  /** @internal Made by `Client.mutex()` and `Client.condvar()`. */
  constructor(
    protected readonly client: SlotOwner,
    readonly name: string,
    readonly slot: number,
    readonly generation: number,
  ) {
    this.lockIndex = this.index(SlotWord.lock);
    this.lockSite = new ParkSite(client, slot, PARKABLE_WORDS[0]!);
    this.generationIndex = this.index(SlotWord.generation);
  }

  protected index(word: number): number {
    return slotWordIndex(this.client.geometry, this.slot, word);
  }

  /**
   * Gives up this client's handle on the slot (the slot is freed when the last holder closes it). Closing
   * this client's last handle while it holds the lock releases the lock as owner-died for the next taker.
   */
  async close(): Promise<void> {
    if (this.closed || this.client.isClosing) return; // a second close(), or the client's goodbye released it
    this.closed = true;
    this.client.parker.wakeSlot(this.slot, this.generation); // ends a lock() or wait() of this handle
    try {
      await this.client.closeSlot(this.slot, true);
    } catch (error) {
      // Refused by a full journal, the session alive: still held, it closes again (NotHeld: nothing held).
      this.closed =
        this.client.lost !== undefined || this.client.isClosing || hasTrait(error, "harmlessOnRelease");
      throw error;
    }
  }

  /**
   * A closed handle must not touch its slot: once freed, the slot may hold someone else's lock. The
   * generation word tells a reused slot apart even if the handle was not closed here.
   */
  protected checkHandle(): void {
    if (this.closed) throw failure("NotHeld", `use '${this.name}'`, "its handle was closed (open it again)");
    // A closed client's slots are no longer mapped: its own error, not a fault on the read below.
    if (this.client.isClosed)
      throw this.client.lost ?? failure("ConnectionLost", `use '${this.name}'`, "its client was closed");
    const current = Atomics.load(this.client.words, this.generationIndex) >>> 0;
    if (current !== this.generation)
      throw failure(
        "NotHeld",
        `use '${this.name}'`,
        `slot ${this.slot} now holds another object (the handle is stale)`,
      );
  }

  /** The hot paths' check: a closed handle, a lost session or a slot holding another object is not touched. */
  protected checkOpen(): void {
    const lost = this.client.lost;
    if (lost) throw lost;
    if (this.closed || Atomics.load(this.client.words, this.generationIndex) >>> 0 !== this.generation)
      this.checkHandle();
  }

  /**
   * Takes the lock if it is free (or abandoned by a dead owner) without waiting; undefined if another
   * client holds it. Throws if this client holds it already, as `lock()` does, or is closing (as `lock()`).
   */
  tryLock(): LockOutcome | undefined {
    refuseWhileClosing(this.client, this.name);
    this.checkOpen();
    const words = this.client.words;
    const me = this.client.clientId;
    const seen = Atomics.compareExchange(words, this.lockIndex, 0, me);
    if (seen === 0) return "acquired";
    // Ours already (through this handle or another): "taken" would have a retry loop wait on itself.
    if ((seen & LOCK_OWNER_MASK) === me) throw heldAlready(this.name);
    if ((seen & LOCK_OWNER_MASK) !== 0) return undefined;
    return this.takeFree(seen, me | (seen & LOCK_WAITERS));
  }

  /**
   * Waits for the lock; `timeout` (milliseconds ≥ 0; left out or Infinity: no limit) bounds the wait (a
   * Timeout error when it passes); `{ timeoutMs, signal }` also ends it when `signal` aborts (Interrupted).
   */
  async lock(timeout?: number | WaitOptions): Promise<LockOutcome> {
    const bound = timeout === undefined ? UNBOUNDED : waitBound(timeout, `lock '${this.name}'`);
    const fast = this.tryLock();
    if (!fast) return this.lockSlowly(bound);
    // A loop of uncontended locks never yields otherwise; look at the clock only now and then (it costs).
    // No `await` in this function: one makes every call pay for a suspendable frame (~150 ns here).
    if ((++this.fastLocks & FAST_LOCKS_PER_CLOCK_CHECK) === 0) return this.afterEventLoopTurn(fast);
    return fast;
  }

  private async afterEventLoopTurn(outcome: LockOutcome): Promise<LockOutcome> {
    await this.client.parker.letEventLoopTurn();
    return outcome;
  }

  /**
   * Lets go, even once the session is lost (a word naming us is ours to clear: ids are never reused); a lock
   * this client does not hold is refused (NotHeld, or the lost session's error), as is a closed handle.
   */
  unlock(): void {
    if (this.client.isClosed) return; // its goodbye released the lock (owner-died for the next taker)
    if (this.closed) this.checkHandle();
    const words = this.client.words;
    const me = this.client.clientId;
    if (Atomics.compareExchange(words, this.lockIndex, me, 0) === me) return;
    const seen = Atomics.load(words, this.lockIndex);
    if ((seen & LOCK_OWNER_MASK) !== me) {
      if (this.client.isClosing) return; // the goodbye got there first: the arbiter released it
      throw this.client.lost ?? this.notHeld(seen); // a lost session's locks were released for it
    }
    // Clear, then wake; by CAS from what we saw: one the arbiter gave away meanwhile is its new holder's.
    if (Atomics.compareExchange(words, this.lockIndex, seen, 0) !== seen) this.unlock();
    else if (seen & LOCK_WAITERS) this.client.parker.wake(this.lockSite, 1);
  }

  get owner(): number {
    if (this.client.isClosed)
      throw failure("ConnectionLost", `read who holds '${this.name}'`, "its client was closed");
    // A closed handle's slot may be free, or another object's by now: its owner is not this lock's.
    if (this.closed) this.checkHandle();
    return Atomics.load(this.client.words, this.lockIndex) & LOCK_OWNER_MASK;
  }

  private async lockSlowly({ timeoutMs, signal }: WaitBound): Promise<LockOutcome> {
    this.checkHandle();
    const started = performance.now();
    const wait = { startedMs: started, deadlineMs: deadlineOf(started, timeoutMs), signal };
    const outcome = this.spinForLock(wait.deadlineMs) ?? (await this.parkForLock(wait));
    this.lockSite.record((performance.now() - started) * 1e6);
    await this.client.parker.letEventLoopTurn();
    return outcome;
  }

  /** Spins while the holder is likely to let go soon; takes the lock if it comes free meanwhile. */
  private spinForLock(deadlineMs: number): LockOutcome | undefined {
    const words = this.client.words;
    const me = this.client.clientId;
    let outcome: LockOutcome | undefined;
    this.client.parker.spin(
      this.lockSite,
      () => {
        const seen = Atomics.load(words, this.lockIndex);
        if ((seen & LOCK_OWNER_MASK) !== 0) return false;
        outcome = this.takeFree(seen, me | (seen & LOCK_WAITERS));
        return outcome !== undefined;
      },
      deadlineMs,
    );
    return outcome;
  }

  private async parkForLock(wait: ParkDeadline): Promise<LockOutcome> {
    const words = this.client.words;
    const me = this.client.clientId;
    for (;;) {
      this.checkOpen();
      throwIfLockAborted(this.client, this.lockSite, wait.signal, this.name);
      const seen = Atomics.load(words, this.lockIndex);
      if ((seen & LOCK_OWNER_MASK) === me)
        throw heldAlready(this.name, { client: this.client, site: this.lockSite });
      // Having parked, we take it with WAITERS set: others may still be parked, and our unlock must wake them.
      if ((seen & LOCK_OWNER_MASK) === 0) {
        const outcome = this.takeFree(seen, me | LOCK_WAITERS);
        if (outcome) return outcome;
        continue;
      }
      const flagged = seen | LOCK_WAITERS;
      if (seen !== flagged && Atomics.compareExchange(words, this.lockIndex, seen, flagged) !== seen)
        continue;
      if (performance.now() >= wait.deadlineMs)
        throw failure("Timeout", `lock '${this.name}'`, `it stayed held by client ${seen & LOCK_OWNER_MASK}`);
      await parkNamed(this.client, this.lockSite, flagged, wait, `lock '${this.name}'`);
    }
  }

  /** CAS a free word (0 or OWNER_DIED, with or without WAITERS) to `mine`. */
  private takeFree(seen: number, mine: number): LockOutcome | undefined {
    refuseWhileClosing(this.client, this.name); // resumed from a park, close() may have begun meanwhile
    if (Atomics.compareExchange(this.client.words, this.lockIndex, seen, mine) !== seen) return undefined;
    return seen & LOCK_OWNER_DIED ? "owner-died" : "acquired";
  }

  private notHeld(seen: number) {
    const owner = seen & LOCK_OWNER_MASK;
    const lost = this.client.lost;
    if (lost) return lost;
    // Resumed after a stop past the lease (SIGSTOP, a paused VM), the holder's first call is often this
    // unlock, run before the arbiter's "lease expired" is read: "it is not locked" hid why it was lost.
    // (Not leaseInDoubt(): an arbiter that is merely slow to answer expires nobody.)
    if (this.client.wasFrozen())
      return failure(
        "LeaseExpired",
        `unlock '${this.name}'`,
        "this process was stopped or starved for over half its lease and the lock is no longer this client's: the lease expired and the arbiter released it (what it guards may have been changed since)",
      );
    return failure(
      "NotHeld",
      `unlock '${this.name}'`,
      owner ? `client ${owner} holds it, not this one (only its holder may unlock it)` : "it is not locked",
    );
  }
}

/**
 * A mutual-exclusion lock shared across processes and VMs.
 *
 * A holder that dies holding it does not keep it: the arbiter releases it as owner-died and wakes the
 * waiters, at once for a process that exits or is killed (even `kill -9`: its connection closes; so for a
 * VM whose QEMU dies), when its lease runs out for one frozen or cut off (SIGSTOP, a paused VM). The next
 * `lock()` or `tryLock()` to take it then returns `"owner-died"` instead of `"acquired"`, once: the data
 * the lock guards may be half-updated, and that caller checks or repairs it before its `unlock()` (the
 * taker after it is told `"acquired"`). The verdict lives in the lock's slot, which only open handles
 * keep: a mutex nobody else had open ends with its holder, and a later `mutex(name)` makes a new, free
 * one. A process that relies on the verdict keeps its handle open.
 */
export class Mutex extends SlotObject {}
