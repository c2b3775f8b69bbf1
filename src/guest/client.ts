/**
 * The client library's session: a Client (made by `connect()`, ./connect.ts) keeps every data block this
 * client holds no grant for inaccessible (reserved, not mapped from the region: see MappedRegion.revoke).
 * Grants map exactly their blocks in (read → PROT_READ, write → read+write); free withdraws them again. Heartbeats keep the lease; an arbiter restart is ridden out by
 * reconnecting with the session token, keeping grants and locks.
 */
import { hasTrait, type IvshError, isIvshError } from "../errors.ts";
import {
  type AccessModeName,
  PROTOCOL_VERSION,
  type Reply,
  STATUS_DEFAULT_LIMIT,
  WAIT_FOREVER,
  WaitOutcome,
  WIRE_MAGIC,
} from "../protocol/messages.ts";
import type { StatusReport } from "../protocol/status-report.ts";
import { type Geometry, SLOT_WORDS, type SlotKindName, slotWordIndex } from "../region/layout.ts";
import type { MappedRegion } from "../region/mapping.ts";
import { type AllocOptions, allocRequest, openRequest, statusRequest, syncOpenRequest } from "./arguments.ts";
import { CondVar } from "./condvar.ts";
import { type ConnectOptions, clientNameOf, DEFAULT_RECONNECT_TIMEOUT_MS } from "./connect-options.ts";
import { resumeForGoodbye, sayGoodbye } from "./goodbye.ts";
import { LeaseKeeper } from "./lease-keeper.ts";
import { Parker } from "./parking.ts";
import { longestRetryPauseMs, ResumeTries, regionCutShort } from "./resume-tries.ts";
import { checkGreetedRegion, checkResumedRegion } from "./resumed-region.ts";
import { Segment, StaleViews } from "./segment.ts";
import { SessionFacts } from "./session-facts.ts";
import { SlotHandles } from "./slot-handles.ts";
import { Mutex } from "./sync.ts";
import type { Transport } from "./transport.ts";
import { followWakeFile, openWakeMailbox } from "./wake-file.ts";

export type { AllocOptions } from "./arguments.ts";
export type { ConnectOptions } from "./connect-options.ts";

const MIN_HELLO_WAIT_MS = 1000;
const DISCONNECTED_POLL_MS = 10;
const PARKED_FULL_POLL_MS = 50;

/** When the retries around a hello give up, and how long they were given in all (for the message). */
type Retries = { deadlineMs: number; totalMs: number };

/**
 * One connection to the arbiter and the region mapped beside it: allocates and opens segments, opens
 * mutexes and condition variables, and keeps its lease alive. Made by `connect()`; `close()` releases
 * everything it holds (so does the process ending, or the lease running out).
 */
export class Client extends SessionFacts {
  /** @internal The region's layout, as the arbiter announced it. */
  geometry!: Geometry;
  /** @internal The region's synchronisation slots, as 32-bit words. */
  words!: Int32Array;
  /** @internal How this client's mutex and condvar waiters park and are woken. */
  parker!: Parker;
  /** @internal Wakes that notifies under a lock owe, per slot, paid when the lock is released. */
  readonly owedWakes = new Map<number, number>();
  private sessionToken = "";
  private recovering: Promise<void> | undefined;
  private closed = false;
  private ended = false; // close() waits for no resume now: its tries end
  private closing: Promise<void> | undefined;
  private readonly slotHandles = new SlotHandles();
  /** @internal */ readonly staleViews = new StaleViews();
  private retired = false;
  private readonly lease: LeaseKeeper;

  /** @internal Use `connect()`. */
  constructor(
    /** @internal */ readonly transport: Transport,
    /** @internal */ readonly region: MappedRegion,
    private readonly options: ConnectOptions,
  ) {
    super();
    this.lease = new LeaseKeeper(transport, {
      leaseMs: () => this.leaseMs,
      closing: () => this.closed,
      resuming: () => this.recovering !== undefined,
      reconnectTimeoutMs: options.reconnectTimeoutMs,
    });
  }

  /** @internal First hello: learn who we are, check the region matches, protect the data area. Given up
   * at the retries' deadline (connect's retries share one). */
  async greet(retries?: Retries): Promise<void> {
    const reply = await this.hello(this.options.signal, retries);
    this.transport.release();
    this.geometry = await checkGreetedRegion(this.region, reply, this.transport, this.options.signal);
    this.words = this.region.syncWords(this.geometry);
    const { dataOffset, blockCount, blockSize } = this.geometry;
    this.region.revoke(dataOffset, blockCount * blockSize);
    // After the revoke, which may throw: connect() then closes the region, and nothing would close this.
    const opened = openWakeMailbox(this.options.futexParking, this.region, this.geometry);
    this.facts.parking = opened.parking;
    this.parker = new Parker(this, opened.mailbox);
    // Once the session is gone for good, or says goodbye (freed on arrival), its grants are the arbiter's to
    // give away: a view kept by mistake must fault, not write into blocks another client now holds.
    this.transport.onLost = () =>
      void (this.retired || this.region.revoke(dataOffset, blockCount * blockSize));
    this.transport.onDisconnect = () => {
      this.recovering ??= this.recover().finally(() => {
        this.recovering = undefined;
      });
    };
    this.lease.start();
  }

  /** Allocates a segment of at least `size` bytes (whole blocks), held with `options.mode` (default
   * "write"); a `name` lets other clients `open()` it. Its memory is mapped into this process while held.
   * It lives while any client holds it: its creator has no rights the others lack, and its leaving (free(),
   * close(), exit) hands it, its data and its name to the other holders; the last one's leaving deletes it. */
  async alloc(size: number | { blocks: number }, options: AllocOptions = {}): Promise<Segment> {
    return await this.adoptGrant(await this.transport.request("alloc", allocRequest(size, options)));
  }

  /** Attaches to a named segment with `mode` (refused if it conflicts with other holders' modes). */
  async open(name: string, mode: AccessModeName = "read"): Promise<Segment> {
    return await this.adoptGrant(await this.transport.request("open", openRequest(name, mode)));
  }

  /** @internal alloc(), its request let go of once `letGo` aborts (see status()): a channel's ring. */
  async allocLettingGo(size: number, options: AllocOptions, letGo?: AbortSignal): Promise<Segment> {
    return await this.adoptGrant(await this.transport.request("alloc", allocRequest(size, options), letGo));
  }

  /** @internal open(), its request let go of once `letGo` aborts (see status()): a channel's ring. */
  async openLettingGo(name: string, mode: AccessModeName, letGo?: AbortSignal): Promise<Segment> {
    return await this.adoptGrant(await this.transport.request("open", openRequest(name, mode), letGo));
  }

  /** @internal Segment.free(); `letGo`: see status() */
  async releaseSegment(segment: Segment, letGo?: AbortSignal): Promise<void> {
    this.region.revoke(segment.offset, segment.capacity);
    // close() has begun: its goodbye gives the grant back, so free() is done, as it is after close().
    if (this.isClosing) return;
    await this.transport.request("free", { segmentId: segment.id }, letGo).catch((error: unknown) => {
      // Refused by a full journal, the session alive: the grant and its blocks are ours (NotHeld: not).
      if (!this.lost && !this.isClosing && !hasTrait(error, "harmlessOnRelease"))
        this.region.expose(segment.offset, segment.capacity, segment.protection);
      throw error;
    });
  }

  /** The mutex named `name`, made if there is none (unless `create` is false). */
  async mutex(name: string, create = true): Promise<Mutex> {
    const { slot, generation } = await this.openSlot(name, "mutex", create);
    return new Mutex(this, name, slot, generation);
  }

  /** The report's condition variable: a lock plus wait/notify, in one slot. */
  async condvar(name: string, create = true): Promise<CondVar> {
    const { slot, generation } = await this.openSlot(name, "condvar", create);
    return new CondVar(this, name, slot, generation);
  }

  /** @internal `letGo`: see status() (a channel end's open, once its signal ends the wait for it). */
  async openSlot(
    name: string,
    kind: SlotKindName,
    create: boolean,
    letGo?: AbortSignal,
  ): Promise<Reply<"syncOpen">> {
    return this.slotHandles.open(
      this.transport.request("syncOpen", syncOpenRequest(name, kind, create), letGo),
    );
  }

  /** @internal Gives up this client's hold on `slot` with its last handle (SlotHandles); `keep`: see there. */
  async closeSlot(slot: number, keep = false, letGo?: AbortSignal): Promise<void> {
    await this.slotHandles.closing(slot, () => this.transport.request("syncClose", { slot }, letGo), keep);
  }

  /**
   * @internal
   * Blocks until word `word` of `slot` no longer holds `expected` (or a wake arrives), or the timeout
   * passes. The arbiter parks us only if the word still holds `expected`. Returns whether a wake ended a
   * park (false: the word had moved on already, the timeout passed, or there was no arbiter to park with).
   * `letGo`: see status() (a channel end that stopped waiting on an abort).
   */
  async waitWord(
    slot: number,
    word: number,
    expected: number,
    timeoutMs = WAIT_FOREVER,
    letGo?: AbortSignal,
  ): Promise<boolean> {
    // Polled (the caller re-checks): no arbiter greeted (restarting), or MAX_PARKED_WAITS of ours parked.
    const polled = (ms: number) => Bun.sleep(Math.min(timeoutMs, ms)).then(() => false);
    if (!this.transport.greeted && !this.transport.lost) return polled(DISCONNECTED_POLL_MS);
    const asked = this.transport.request("wait", { slot, word, expected, timeoutMs }, letGo);
    const reply = await asked.catch((error: unknown) => {
      if (isIvshError(error, "QuotaExceeded")) return undefined;
      throw error;
    });
    return reply ? reply.outcome === WaitOutcome.woken : polled(PARKED_FULL_POLL_MS);
  }

  /** @internal */
  flushWrites(): void {
    this.transport.flush();
  }

  /** @internal Asks the arbiter to wake up to `count` waiters; one-way: the arbiter answers only an error. */
  wakeWord(slot: number, word: number, count: number): void {
    if (!this.transport.notify("wake", { slot, word, count, reply: 0 }))
      this.transport.post("wake", { slot, word, count, reply: 1 });
  }

  /** @internal As `wakeWord`, but resolves with the arbiter's answer: a wake timed as a round trip. */
  async wakeWordAnswered(slot: number, word: number, count: number): Promise<void> {
    await this.transport.request("wake", { slot, word, count, reply: 1 });
  }

  /** @internal The 16 words of sync slot `slot` (benchmarks keep their own in those a kind leaves free). */
  slotWords(slot: number): Int32Array {
    const first = slotWordIndex(this.geometry, slot, 0);
    return this.words.subarray(first, first + SLOT_WORDS);
  }

  /** @internal RPCs sent on this connection so far, by operation (what a transfer cost in round trips). */
  get requestCounts(): ReadonlyMap<string, number> {
    return this.transport.requestCounts;
  }

  /**
   * The arbiter's status, at most `limit` entries per list (totals are always complete); `onlyClient`
   * narrows the clients list to that one client, if it still has a session. Once `letGo` aborts, the
   * request no longer keeps the process alive: for a caller that stopped waiting for the answer. It is
   * not a cancel: the promise still settles if the arbiter answers while the process lives.
   */
  async status(limit = STATUS_DEFAULT_LIMIT, onlyClient = 0, letGo?: AbortSignal): Promise<StatusReport> {
    const { json } = await this.transport.request("status", statusRequest(limit, onlyClient), letGo);
    return JSON.parse(json) as StatusReport;
  }

  /**
   * Sends a heartbeat unless one is on its way or an answer arrived recently; cheap enough for a data loop.
   * Answers, not sends, count: one-way WAKEs reach the arbiter too, but only an answer proves it, and
   * `leaseInDoubt` relies on that.
   */
  keepAlive(): void {
    this.lease.keepAlive();
  }

  /**
   * Whether this process may have been frozen (SIGSTOP, a paused VM, a starved event loop) long enough to
   * lose its lease unknowingly (its grants may be others' now: `confirmLease()` before writing shared
   * memory). An arbiter down (restarting) is no reason, sessions do not expire then; one that answers
   * nothing for half a lease is: our heartbeats may not be getting through.
   */
  leaseInDoubt(): boolean {
    return this.lease.leaseInDoubt();
  }

  /** @internal This process (not the arbiter) may have been stopped or starved past half its lease. */
  wasFrozen(): boolean {
    return this.lease.wasFrozen();
  }

  /** Asks the arbiter whether our session is still live; throws (LeaseExpired, ...) if it is not. */
  confirmLease(): Promise<void> {
    return this.lease.confirm();
  }

  /** @internal confirmLease(), its request let go of once `letGo` aborts: see status(). */
  confirmLeaseLettingGo(letGo?: AbortSignal): Promise<void> {
    return this.lease.confirm(letGo);
  }

  /** Why this client can no longer work (lease expired, arbiter gone), if so. */
  get lost(): IvshError | undefined {
    return this.transport.lost;
  }

  /**
   * Says goodbye (the arbiter releases everything still held) and unmaps the region. By default it waits
   * until the arbiter has answered, so what this client held is free when it resolves. A process about
   * to exit can pass `{ waitForArbiter: false }`: the goodbye is still read before the connection's end
   * and everything released as surely, one round trip sooner (the end of every `ivsh guest send` / `recv`).
   * With the arbiter away (restarting), it waits up to a lease for its return to say goodbye (unless told
   * not to wait): one back later finds this process gone and releases what it held after a lease.
   * A second close() resolves with the first (it resolved at once, while the goodbye was on its way).
   */
  close(options: { waitForArbiter?: boolean } = {}): Promise<void> {
    this.closing ??= this.goodbye(options);
    return this.closing;
  }

  private async goodbye(options: { waitForArbiter?: boolean }): Promise<void> {
    this.closed = true;
    this.lease.stop();
    this.transport.onLost?.(); // withdraws the data area (see greet), before the goodbye can free a block
    const waitForArbiter = options.waitForArbiter !== false;
    // Only then an await before the bye: a caller spinning right after close() has it sent already.
    if (waitForArbiter && this.recovering) await resumeForGoodbye(this.recovering, this.leaseMs);
    this.ended = true;
    await sayGoodbye(this.transport, waitForArbiter);
    this.transport.close();
    this.parker.closeMailbox();
    this.region.retire();
    this.retired = true;
  }

  /** Whether close() has finished: a closed client's segments and locks refuse to be used (during the
   * goodbye an unlock still works, a real one; a lock is refused, as are its segments: see goodbye()). */
  get isClosed(): boolean {
    return this.retired;
  }

  /** @internal The connection, as a transfer watches it (src/transfer/channel-client.ts). */
  get arbiterLink(): Transport {
    return this.transport;
  }

  /** @internal Whether close() has begun: from then on, its goodbye may have released what this client held. */
  get isClosing(): boolean {
    return this.closed;
  }

  /** Maps a grant's blocks in; if they cannot be, gives the grant back rather than hold it unusable. */
  private async adoptGrant(grant: Reply<"alloc">): Promise<Segment> {
    const segment = new Segment(this, grant);
    // Lost, or closing, while the grant was on its way: the data area stays withdrawn (bytes() says why).
    if (this.transport.lost || this.closed) return segment;
    try {
      this.region.expose(segment.offset, segment.capacity, segment.protection);
    } catch (error) {
      await this.transport.request("free", { segmentId: segment.id }).catch(() => undefined);
      throw error;
    }
    this.staleViews.granted(this.region, segment.offset, segment.capacity); // detaches stale views there
    return segment;
  }

  /** `signal` ends connect()'s hello only: a session it made must still resume after a restart.
   * `retries` (default: the reconnect timeout from now) says when the retries around it give up. */
  private async hello(signal?: AbortSignal, retries?: Retries): Promise<Reply<"hello">> {
    const hello = {
      magic: WIRE_MAGIC,
      version: PROTOCOL_VERSION,
      clientName: clientNameOf(this.options.name),
      pid: process.pid,
      sessionToken: this.sessionToken,
    };
    const timeoutMs = this.options.reconnectTimeoutMs ?? DEFAULT_RECONNECT_TIMEOUT_MS;
    // Not beyond the retries' deadline, else a hello begun late in it would double it; but at least a
    // second even with reconnectTimeoutMs 0 ("do not retry"): one hello must get its chance.
    const { deadlineMs = performance.now() + timeoutMs, totalMs = timeoutMs } = retries ?? {};
    const waitMs = Math.max(MIN_HELLO_WAIT_MS, deadlineMs - performance.now());
    // Told as the whole wait: a late retry's own second is not what the user waited.
    const shownMs = Math.max(waitMs, totalMs);
    const reply = await this.transport.handshake("hello", hello, waitMs, signal, shownMs);
    Object.assign(this.facts, {
      clientId: reply.clientId,
      epoch: reply.epoch,
      leaseMs: reply.leaseMs,
      vm: reply.vm,
    });
    this.sessionToken = reply.sessionToken;
    return reply;
  }

  /** Reconnects after the link dropped, resuming the session; gives up after the reconnect timeout. */
  private async recover(): Promise<void> {
    const timeoutMs = this.options.reconnectTimeoutMs ?? DEFAULT_RECONNECT_TIMEOUT_MS;
    const [deadline, tries] = [performance.now() + timeoutMs, new ResumeTries(this.leaseMs)];
    const epoch = this.epoch;
    const longest = longestRetryPauseMs(this.transport.endpoint, this.leaseMs);
    for (let delay = 10; performance.now() < deadline && !this.ended; delay = Math.min(delay * 2, longest)) {
      await Bun.sleep(delay);
      const cut = regionCutShort(this.region);
      if (cut) return this.transport.fail(cut);
      try {
        await this.transport.open(undefined, true);
        const reply = await this.hello(undefined, { deadlineMs: deadline, totalMs: timeoutMs });
        await checkResumedRegion(this.region, reply, this.transport, () => this.ended);
        // A restarted arbiter wakes the wake-up file at the region's path, maybe not ours (wake-file.ts).
        if (reply.epoch !== epoch) this.facts.parking = followWakeFile(this, this.options) ?? this.parking;
        this.facts.reconnects++;
        this.lease.resumed();
        this.transport.release();
        return;
      } catch (error) {
        const gone = hasTrait(error, "endsResume") ? error : tries.failed(error);
        this.transport.close(false); // a session that cannot go on ends with its link, not its lease
        if (gone) return this.transport.fail(gone);
      }
    }
    this.transport.fail(tries.givenUp(this.transport.endpoint, timeoutMs));
  }
}
