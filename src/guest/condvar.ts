/**
 * The report's condition variable in a slot of the region: the lock of sync.ts's SlotObject and, in the
 * slot's second parkable word, a sequence that every notify bumps (a waiter parks on the value it read
 * under the lock, so a notify between its unlock and its park is never lost).
 */
import { failure, throwIfAborted } from "../errors.ts";
import { LOCK_OWNER_DIED, PARKABLE_WORDS, WAKE_ALL } from "../region/layout.ts";
import { parkNamed, refuseWhileClosing, relockForWait } from "./park-named.ts";
import { ParkSite } from "./parking.ts";
import { type LockOutcome, SlotObject, type UntimedWaitResult, type WaitResult } from "./sync.ts";
import { deadlineOf, UNBOUNDED, type WaitBound, type WaitOptions, waitBound } from "./wait-options.ts";

/**
 * The report's condition variable: a lock (acquire/release) with wait/notify, Mesa semantics: a woken waiter
 * re-checks its condition in a loop. wait() lets go of this lock only, not of a Mutex: a bounded queue's "not
 * empty" and "not full" share one CondVar (wait for either, broadcast()). Its holder dying is as for a
 * `Mutex`: `acquire()` and `wait()` (which ends then: that holder will never notify) return `"owner-died"`.
 */
export class CondVar extends SlotObject {
  private readonly sequenceSite = new ParkSite(this.client, this.slot, PARKABLE_WORDS[1]!);

  /** Takes the condition variable's lock, as `lock()` (the report's acquire). */
  acquire(timeout?: number | WaitOptions): Promise<LockOutcome> {
    return this.lock(timeout);
  }

  /** Lets the lock go and wakes whom notify() owed a wake-up (the report's release). */
  release(): void {
    this.unlock();
  }

  /**
   * Lets go, then wakes whom notifies under the lock owed a wake-up: they need the lock we just freed.
   * The debt is the client's, per slot, as the lock is: another handle of ours may have notified.
   */
  override unlock(): void {
    super.unlock();
    if (this.client.isClosed) return; // the wakes owed went with the goodbye: its waiters were woken
    const owed = this.client.owedWakes.get(this.slot);
    if (owed === undefined) return;
    this.client.owedWakes.delete(this.slot);
    this.client.parker.wake(this.sequenceSite, owed);
  }

  /**
   * Releases the lock, waits for a notify (or `timeout`, milliseconds ≥ 0; left out: no limit), and
   * takes the lock again. Must be called with the lock held. "owner-died" wins over the other results:
   * while we waited, a holder died with the lock, and the state it guards needs the caller's attention.
   * With `{ signal }`, an abort ends the wait with Interrupted, thrown once the lock is held again (every
   * way out of wait() holds it: `finally { unlock() }` stays right), unless taking it said "owner-died".
   */
  wait(): Promise<UntimedWaitResult>;
  wait(timeout: number | WaitOptions): Promise<WaitResult>;
  async wait(timeout?: number | WaitOptions): Promise<WaitResult> {
    const bound = timeout === undefined ? UNBOUNDED : waitBound(timeout, `wait on '${this.name}'`);
    // A lost session (a lease that expired, a client closed or closing) is the error to tell, before whose
    // lock it is: "acquire() it first" would be refused too, and close() may wait a lease for the arbiter.
    if (this.client.isClosing) refuseWhileClosing(this.client, this.name, `wait on '${this.name}'`);
    this.checkOpen();
    if (this.owner !== this.client.clientId)
      throw failure(
        "NotHeld",
        `wait on '${this.name}'`,
        // shm_wait_cv() says its own. A pthread habit holds a Mutex here instead, and read "its lock" as that.
        "this client does not hold its lock (acquire() it first: a CondVar is its own lock, and wait() lets go of that one, never of a Mutex)",
      );
    // Read under the lock: a notify after our unlock bumps it, and we see that however we wait.
    const sequence = Atomics.load(this.client.words, this.sequenceSite.wordIndex);
    let signalled: boolean | { error: unknown };
    try {
      this.unlock();
      signalled = await this.waitSequence(sequence, bound);
    } catch (error) {
      if (this.client.isClosing) throw error; // ended by close(): its goodbye releases the lock, not ours
      signalled = { error };
    }
    const relocked = await relockForWait(this.client, this.name, () => this.lock());
    if (relocked === "owner-died") return "owner-died"; // over an abort too: it is told once
    if (typeof signalled === "object") throw signalled.error;
    return signalled ? "notified" : "timed-out";
  }

  /** Waits until the sequence moves on from `sequence`; false if the timeout passed first. */
  private async waitSequence(sequence: number, { timeoutMs, signal }: WaitBound): Promise<boolean> {
    const words = this.client.words;
    const site = this.sequenceSite;
    // A holder dying with the lock never notifies: the arbiter marks it owner-died and wakes the slot.
    const moved = () =>
      Atomics.load(words, site.wordIndex) !== sequence ||
      (Atomics.load(words, this.lockIndex) & LOCK_OWNER_DIED) !== 0;
    const started = performance.now();
    const wait = { startedMs: started, deadlineMs: deadlineOf(started, timeoutMs), signal };
    try {
      if (this.client.parker.spin(site, moved, wait.deadlineMs)) return true;
      for (;;) {
        if (moved()) return true;
        if (performance.now() >= wait.deadlineMs) return false;
        this.checkOpen();
        throwIfAborted(signal, `wait on '${this.name}'`);
        await parkNamed(this.client, site, sequence, wait, `wait on '${this.name}'`);
      }
    } finally {
      site.record((performance.now() - started) * 1e6);
    }
  }

  /**
   * Wakes a waiter (if any; waiters still spinning see it too, so more than one may wake: each re-checks
   * its condition). Under the lock, it wakes when the lock is released. With no waiter it is not kept.
   */
  notify(): void {
    this.signal(1);
  }

  /** Wakes every waiter; under the lock, they wake when the lock is released. */
  broadcast(): void {
    this.signal(WAKE_ALL);
  }

  private signal(count: number): void {
    // Else the transport's words, "get an answer from the arbiter", which a notify never asks for.
    if (this.client.isClosed)
      refuseWhileClosing(this.client, this.name, `${count === 1 ? "notify" : "broadcast on"} '${this.name}'`);
    this.checkOpen();
    // Bump first, then look for parked waiters: one that announced itself after our look sees the bump.
    Atomics.add(this.client.words, this.sequenceSite.wordIndex, 1);
    // Under our lock, the wake-up waits for unlock(): woken now, a waiter would only find the lock taken
    // and park again on it. The bump above is what a waiter about to park sees; the wake only comes later,
    // and a holder dying before it is covered by the arbiter waking the slot.
    if (this.owner !== this.client.clientId) {
      this.client.parker.wake(this.sequenceSite, count);
      return;
    }
    const owed = this.client.owedWakes.get(this.slot) ?? 0;
    this.client.owedWakes.set(this.slot, Math.min(WAKE_ALL, owed + count));
  }
}
