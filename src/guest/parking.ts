/**
 * How a mutex or condvar waiter waits (docs/layout.md, "Parking"): spin on the word, then spin yielding the
 * core, then park: on its own kernel's futex (a wake mailbox word) when it can, else in the arbiter.
 *
 * Spinning wins when the wait is short: a hand-off between spinning processes costs ~0.2 µs, a futex
 * wake-up ~5-10 µs, one through the arbiter two socket wake-ups. The spin budget adapts per slot: four
 * times how long recent waits lasted (at least 10 µs), and a token 1 µs once they lasted longer than
 * spinning is worth (60 µs), so a waiter that will wait long parks soon and leaves the core to its peer
 * (2-core machines).
 *
 * A futex park blocks this thread, so it sleeps in slices and turns the event loop between them (timers,
 * heartbeats, the arbiter's messages keep running): 16 ms each. After
 * LOCAL_PARK_MS it parks in the arbiter instead, which leaves the event loop free. A process whose event
 * loop has other work connects with `futexParking: false`.
 *
 * Which kernel wakes it decides where a waiter parks: the slot remembers the last waker's kernel, each
 * handle which kernel's waker ended its own last park there, and a waiter whose waker is of another
 * kernel parks in the arbiter, which that waker's WAKE reaches at once. If the guess is
 * wrong, a wake-up from another kernel still reaches a host sleeper at once (the arbiter wakes the host's
 * mailbox); a guest's futex sleeper sees it at the end of its slice.
 *
 * Ordering: every step is a sequentially consistent Atomics operation. A parker announces itself (park
 * record or queued count) before it re-reads the word; a waker changes the word before it reads the
 * records. So either the parker sees the change and does not sleep, or the waker sees the parker and
 * wakes it. The futex itself compares the mailbox word, which the parker read before re-reading the slot
 * word and the waker bumps after reading the records: a wake in between makes the sleep return at once.
 */
import { yieldProcessor } from "../ffi/index.ts";
import type { Geometry, ParkableWord } from "../region/layout.ts";
import {
  MAX_FUTEX_PARKED,
  mailboxIndex,
  PARKABLE_WORDS,
  parkedCount,
  parkedDomain,
  parkRecord,
  SlotWord,
  SyncWord,
  slotWordIndex,
  WAKE_ALL,
} from "../region/layout.ts";
import { kernelDomain, type WakeMailbox } from "../region/mailbox.ts";
import { LONGEST_TIMER_MS } from "../units.ts";

/** What parking needs of a client: its view of the slots, its session, and the arbiter's wait queue. */
export interface ParkingClient {
  readonly words: Int32Array;
  readonly geometry: Geometry;
  readonly lost: Error | undefined;
  waitWord(slot: number, word: number, expected: number, timeoutMs?: number): Promise<boolean>;
  wakeWord(slot: number, word: number, count: number): void;
  /** Sends what is waiting to go to the arbiter (a WAKE): a futex sleep would hold it back. */
  flushWrites(): void;
  /** Wake-ups a notify under this client's lock owes, by slot: paid at the unlock (sync.ts). */
  readonly owedWakes: Map<number, number>;
}

/** Spinning longer than a park plus its wake-up costs is never worth it. */
const MAX_SPIN_NS = 60_000;
const MIN_SPIN_NS = 1_000;
/** What a waiter whose recent waits were short spins at least: a peer's time slice hiccup is worth riding out. */
const SHORT_WAIT_SPIN_NS = 10_000;
/** After the spin budget, as long again spinning with sched_yield: a peer on this core gets to run. */
const YIELD_FACTOR = 1;
const LOCAL_PARK_MS = 500;
/**
 * A futex sleep's slice: the event loop waits meanwhile, and a guest's sleeper sees a wake-up from another
 * kernel only when its slice ends. One length from the start: measured here (2-core VM), a sleeper whose
 * earlier slices ended on their timer within the last milliseconds is woken slower (scripts/experiments/
 * futex-wake.ts: p50 18–20 µs with 1 ms slices, 9–11 µs with 16 ms); short first slices cost every
 * short park that.
 */
const SLICE_MS = 16;
/** The arbiter's timers run at most 2^31-1 ms; a longer wait is parked again when this one ends. */
const MAX_ARBITER_WAIT_MS = 2 ** 31 - 2;
/** How long past a WAIT's timeout its answer may take before the waiter stops waiting for it. */
const ARBITER_ANSWER_GRACE_MS = 250;
/**
 * Spinning and the lock's fast path never give the event loop a turn; without one, timers (the client's
 * heartbeats among them) and the arbiter's messages wait. A waiter gives it one at least this often.
 */
const TURN_EVERY_MS = 20;
/** How much of the newest wait the adaptive estimate takes in. */
const RECENT_WEIGHT = 0.25;

/** One parkable word of one slot, with its adaptive spin estimate. */
export class ParkSite {
  readonly wordIndex: number;
  readonly parkedIndex: number;
  readonly queuedIndex: number;
  readonly mailboxIndex: number;
  readonly lastWakerIndex: number;
  readonly generationIndex: number;
  /** Recent waits' length, nanoseconds (exponentially weighted). */
  recentWaitNs = MAX_SPIN_NS / 2;
  /**
   * The kernel whose waker ended our last park here (the slot's `lastWaker` as we woke), or undefined
   * before the first. It predicts the next waker better than the slot's word, which may name ourselves:
   * in a ping-pong each side notifies just before it waits.
   */
  lastWakerSeen: number | undefined;

  constructor(
    client: ParkingClient,
    readonly slot: number,
    readonly parkable: ParkableWord,
  ) {
    this.wordIndex = slotWordIndex(client.geometry, slot, parkable.word);
    this.lastWakerIndex = slotWordIndex(client.geometry, slot, SyncWord.lastWaker);
    this.generationIndex = slotWordIndex(client.geometry, slot, SlotWord.generation);
    this.parkedIndex = slotWordIndex(client.geometry, slot, parkable.parked);
    this.queuedIndex = slotWordIndex(client.geometry, slot, parkable.queued);
    this.mailboxIndex = mailboxIndex(slot, parkable);
  }

  /** Nanoseconds to spin before parking, from how long recent waits lasted. */
  spinBudgetNs(): number {
    if (this.recentWaitNs > MAX_SPIN_NS) return MIN_SPIN_NS;
    return Math.min(MAX_SPIN_NS, Math.max(SHORT_WAIT_SPIN_NS, 4 * this.recentWaitNs));
  }

  record(waitedNs: number): void {
    const capped = Math.min(waitedNs, 4 * MAX_SPIN_NS);
    this.recentWaitNs += (capped - this.recentWaitNs) * RECENT_WEIGHT;
  }
}

export interface ParkDeadline {
  /** performance.now() when the whole wait began (slices and the local park budget count from it). */
  readonly startedMs: number;
  /** performance.now() to give up at; Infinity for none. */
  readonly deadlineMs: number;
  /** Ends the park early when aborted (the caller's loop then throws). */
  readonly signal?: AbortSignal | undefined;
}

/** A client's parking: the mailbox of its kernel if it has one, the arbiter always. */
export class Parker {
  private lastTurnMs = performance.now();
  /** This kernel, for the slot's last-waker hint: known even when this client does not futex-park. */
  private readonly domain: number;

  constructor(
    private readonly client: ParkingClient,
    private current: WakeMailbox | undefined,
  ) {
    this.domain = current?.domain ?? kernelDomain();
  }

  /** The wake-up file this client futex-parks on, if any. */
  get mailbox(): WakeMailbox | undefined {
    return this.current;
  }

  /**
   * Parks on `mailbox` from now on (the one a restarted arbiter wakes: wake-file.ts; none: in the arbiter),
   * the one before closed. A futex park under way on it ends at its next event loop turn (parkOnFutex),
   * before it touches it again.
   */
  useMailbox(mailbox: WakeMailbox | undefined): void {
    const before = this.current;
    this.current = mailbox;
    before?.close();
  }

  /** At the client's close. */
  closeMailbox(): void {
    this.current?.close();
  }

  /**
   * Spins (then spins yielding) until `done()`, the site's budget runs out or the deadline passes.
   * Synchronous: a wait this short is cheaper than the trip through the event loop.
   */
  spin(site: ParkSite, done: () => boolean, deadlineMs = Number.POSITIVE_INFINITY): boolean {
    const budgetMs = site.spinBudgetNs() / 1e6;
    const started = performance.now();
    const spinUntil = Math.min(started + budgetMs, deadlineMs);
    const yieldUntil = Math.min(spinUntil + budgetMs * YIELD_FACTOR, deadlineMs);
    for (let round = 0; ; round++) {
      if (done()) return true;
      if ((round & 63) !== 63) continue;
      const now = performance.now();
      if (now >= yieldUntil) return false;
      if (now >= spinUntil) yieldProcessor();
    }
  }

  /** Gives the event loop a turn if this thread has not given it one for TURN_EVERY_MS. */
  async letEventLoopTurn(): Promise<void> {
    if (performance.now() - this.lastTurnMs < TURN_EVERY_MS) return;
    await eventLoopTurn();
    this.lastTurnMs = performance.now();
  }

  /**
   * Parks until the site's word no longer holds `expected` (or may not: callers re-check), the deadline
   * passes, or a slice ends. Throws if the client lost its session meanwhile.
   */
  async park(site: ParkSite, expected: number, deadline: ParkDeadline): Promise<void> {
    const now = performance.now();
    const local = now - deadline.startedMs < LOCAL_PARK_MS;
    const generation = Atomics.load(this.client.words, site.generationIndex);
    if (this.mailbox && local && this.wakerIsLocal(site) && this.announce(site)) {
      try {
        await this.parkOnFutex(this.mailbox, site, expected, deadline);
      } finally {
        this.uncount(site, site.parkedIndex, generation);
      }
    } else await this.parkInArbiter(site, expected, deadline, generation);
    // The client may have been closed while we were parked: its slots are unmapped now, and a caller
    // that read its word on return (a condvar's wait) faulted.
    const lost = this.client.lost;
    if (lost) throw lost;
    const words = this.client.words;
    if (Atomics.load(words, site.wordIndex) !== expected)
      site.lastWakerSeen = Atomics.load(words, site.lastWakerIndex);
  }

  /** After changing the site's word: wakes up to `count` of those parked on it, wherever they are. */
  wake(site: ParkSite, count: number): void {
    const words = this.client.words;
    let viaArbiter = Atomics.load(words, site.queuedIndex) > 0;
    const record = Atomics.load(words, site.parkedIndex);
    if (parkedCount(record) === 0 && !viaArbiter) return;
    // Only when there is someone to wake: an uncontended notify stays one atomic add.
    const domain = this.domain;
    if (Atomics.load(words, site.lastWakerIndex) !== domain)
      Atomics.store(words, site.lastWakerIndex, domain);
    if (parkedCount(record) > 0) {
      if (this.mailbox && parkedDomain(record) === domain) {
        // The woken thread usually lands on our core (its last one); it runs once we give the core up,
        // later if we just go on (scripts/experiments/futex-wake.ts: p50 9–11 µs, 5–6 µs when we yield).
        // Yielding hands it over now; with nothing else queued it is a no-op.
        if (this.mailbox.wake(site.mailboxIndex, count) > 0) yieldProcessor();
      } else viaArbiter = true; // parked in another kernel: only the arbiter reaches it
    }
    if (viaArbiter) this.client.wakeWord(site.slot, site.parkable.word, count);
  }

  /**
   * Wakes every waiter parked on either word of a mutex's or condvar's `slot` (each re-checks): a handle's
   * close() ends its own lock() or wait() so, even when the client keeps another handle (the arbiter wakes
   * the slot only at the close of the last). Not once the session is lost (the slots may be unmapped), nor
   * if the slot holds another object than the handle's `generation` (its words may not be park records).
   */
  wakeSlot(slot: number, generation: number): void {
    if (this.client.lost) return;
    const sites = PARKABLE_WORDS.map((parkable) => new ParkSite(this.client, slot, parkable));
    if (Atomics.load(this.client.words, sites[0]!.generationIndex) >>> 0 !== generation) return;
    for (const site of sites) this.wake(site, WAKE_ALL);
  }

  /**
   * Whether our next waker will likely run in our kernel: the one that woke us last time here, else the
   * slot's last waker (or nobody has woken anyone yet).
   */
  private wakerIsLocal(site: ParkSite): boolean {
    const lastWaker = site.lastWakerSeen ?? Atomics.load(this.client.words, site.lastWakerIndex);
    return lastWaker === 0 || lastWaker === this.mailbox!.domain;
  }

  /** Counts us into the park record, unless waiters of another kernel hold it (then: the arbiter). */
  private announce(site: ParkSite): boolean {
    const words = this.client.words;
    const domain = this.mailbox!.domain;
    for (;;) {
      const record = Atomics.load(words, site.parkedIndex);
      const count = parkedCount(record);
      if (count > 0 && (parkedDomain(record) !== domain || count >= MAX_FUTEX_PARKED)) return false;
      const next = parkRecord(domain, count + 1);
      if (Atomics.compareExchange(words, site.parkedIndex, record, next) === record) return true;
    }
  }

  private async parkOnFutex(
    mailbox: WakeMailbox,
    site: ParkSite,
    expected: number,
    deadline: ParkDeadline,
  ): Promise<void> {
    const words = this.client.words;
    const until = Math.min(deadline.deadlineMs, deadline.startedMs + LOCAL_PARK_MS);
    for (;;) {
      // Read the mailbox before the word: a wake after our look at the word bumps what we compare against.
      const seen = mailbox.load(site.mailboxIndex);
      if (Atomics.load(words, site.wordIndex) !== expected) return;
      const now = performance.now();
      if (now >= until) return;
      this.client.flushWrites();
      mailbox.sleep(site.mailboxIndex, seen, Math.min(until - now, SLICE_MS));
      if (Atomics.load(words, site.wordIndex) !== expected) return;
      await eventLoopTurn();
      this.lastTurnMs = performance.now();
      const lost = this.client.lost;
      if (lost) throw lost;
      if (deadline.signal?.aborted) return; // an abort is delivered by the turn just taken
      if (this.current !== mailbox) return; // closed during the turn (useMailbox): the caller looks again
    }
  }

  /**
   * Takes our count back out of a park record or queued count. Not if the client lost its session, or if
   * the slot no longer holds the object we parked on: our handle's close freed it, and another object may
   * be there now, whose fresh count would go to -1 (a queued -1 hides its next waiter from every waker).
   */
  private uncount(site: ParkSite, index: number, generation: number): void {
    if (this.client.lost || Atomics.load(this.client.words, site.generationIndex) !== generation) return;
    Atomics.sub(this.client.words, index, 1);
  }

  private async parkInArbiter(
    site: ParkSite,
    expected: number,
    { deadlineMs, signal }: ParkDeadline,
    generation: number,
  ): Promise<void> {
    const words = this.client.words;
    Atomics.add(words, site.queuedIndex, 1);
    try {
      if (Atomics.load(words, site.wordIndex) !== expected) return;
      const remaining = deadlineMs - performance.now();
      if (remaining <= 0) return;
      const timeoutMs = Number.isFinite(remaining)
        ? Math.min(Math.ceil(remaining), MAX_ARBITER_WAIT_MS)
        : undefined;
      const answer = this.client.waitWord(site.slot, site.parkable.word, expected, timeoutMs);
      if (await leftParked(answeredWithin(answer, timeoutMs), signal))
        // Our WAIT stays parked in the arbiter (given up on: aborted, or its answer late), maybe first in
        // line: a wake-up meant for a live waiter would be spent on it. Wake them all (ours with them, as it
        // follows our WAIT on the connection); every waiter re-checks its word.
        this.client.wakeWord(site.slot, site.parkable.word, WAKE_ALL);
      this.lastTurnMs = performance.now(); // the answer came through the event loop
    } finally {
      this.uncount(site, site.queuedIndex, generation);
    }
  }
}

/**
 * Whether the arbiter answered a timed WAIT: false if it had not a little after its timeout (an arbiter
 * stopped or wedged with its connection open answers nothing, and the caller's bound, lock(ms) or wait(ms),
 * held only until it ran again). Ending early is a spurious wake-up, which every caller re-checks for; the
 * WAIT left parked in the arbiter is woken by its caller, lest it take a wake-up meant for another waiter.
 */
async function answeredWithin(answer: Promise<boolean>, timeoutMs: number | undefined): Promise<boolean> {
  if (timeoutMs === undefined) {
    await answer;
    return true;
  }
  answer.catch(() => undefined); // given up on, it may still fail later (the session lost): not unhandled
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.min(timeoutMs + ARBITER_ANSWER_GRACE_MS, LONGEST_TIMER_MS));
  });
  try {
    return await Promise.race([answer.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether the WAIT was given up on: `signal` aborted before `answered` settled, or it settled false. */
async function leftParked(answered: Promise<boolean>, signal: AbortSignal | undefined): Promise<boolean> {
  if (!signal) return !(await answered);
  if (signal.aborted) return true;
  answered.catch(() => undefined); // given up on, it may still fail later (the session lost): not unhandled
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<boolean>((resolve) => {
    onAbort = () => resolve(true);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([answered.then((answer) => !answer), aborted]);
  } finally {
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
}

/** One turn of the event loop: I/O callbacks and timers that came due run before we continue. */
function eventLoopTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
