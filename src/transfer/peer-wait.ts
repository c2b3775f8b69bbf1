/**
 * How long one end of a transfer waits for the other to show up (its --timeout), and what it says when
 * that wait ends: the peer did not come, or the arbiter it would come through was gone or silent.
 */
import { failure, hasTrait, type IvshError, isIvshError } from "../errors.ts";
import { formatDuration } from "../units.ts";
import type { ArbiterLink, ChannelClient } from "./channel-client.ts";

/** How often a passed wait limit asks again whether the peer is there, while that cannot be told yet. */
const RECHECK_MS = 20;
/**
 * How late the limit's first check may run before this end is taken to have been stopped across it (Ctrl-Z,
 * SIGSTOP): seconds, where a busy machine's starvation delays a timer by far less (and a late check gives
 * the reconnect half a lease: 30 s past a --timeout with a 60 s lease).
 */
const LATE_CHECK_MS = 5000;
/**
 * How long a limit checked that late still lets the body look first: a peer that came while this end was
 * stopped is seen only once the body has its turn (its wake-up queued behind the timer's), and a receiver
 * that joined a sender's waiting transfer in that turn had it cut off, "no sender started a transfer".
 */
const LATE_LOOK_MS = 1000;

/** What a peer wait is about: the action that waits, whom it waits for, whether that is told at once. */
export interface WaitFor {
  action: string;
  peer: string;
  unknownUntilTold: boolean;
}

/** One try of a transfer's end, as `withPeerWait` runs it. */
export interface PeerWaitTry {
  /** The session this try runs on (a new one after a session lost while nothing was transferred). */
  client: ChannelClient;
  /** The signal to honour: the caller's, and the wait limit's. */
  signal: AbortSignal | undefined;
  /**
   * How to see whether the peer is there (asked when the limit passes): undefined while that cannot be
   * told yet (the limit then waits, unless the arbiter is silent).
   */
  peerCheck(isHere: () => boolean | undefined): void;
  /**
   * How to tell, should the session be lost, whether a new one may run the transfer again from its start:
   * only while nothing of it has moved (no peer joined, no input consumed that cannot be read again).
   */
  redoable(canRedo: () => boolean): void;
  /** A peer came but failed before it could be there ("a sender (client 7) could not ..."): the last is told at the limit. */
  peerFailed(line: string): void;
  /** How to tell, at the limit, of a peer that is there but not ready (a sender still waiting for room). */
  peerPending(describe: () => string | undefined): void;
  /**
   * What this end itself waits for before its peer can be looked for ("for room in the region for the
   * ring (...)"; undefined once it no longer does): an arbiter that stops answering meanwhile is said to
   * have done so while it waited for that, not as if it had been waiting for its peer.
   */
  awaiting(what: string | undefined): void;
}

/**
 * A new session for the next try, given how long the peer may still be waited for (undefined: no limit).
 * Without one (a library caller's own client) a try's failure stands.
 */
export type Renew = (waitMs: number | undefined) => Promise<ChannelClient>;

/**
 * Runs one end of a transfer with a limit on how long it waits for its peer: `body` gets the signal to
 * honour and tells, through `peerCheck`, how to see whether the peer is there (asked when the limit
 * passes); a wait cut short by the limit ends in Timeout. Until `body` has told, the peer is absent, or,
 * with `unknownUntilTold` (a sender still setting its ring up), not known yet: the limit then waits.
 *
 * An end stopped (Ctrl-Z) past its lease while it waited finds its session expired on `fg`: the arbiter
 * let go of its role and ring. Nothing had moved, so nothing is lost by starting over: with `renew` the
 * end takes a new session and waits again, its limit still counting from the first try (it gave up
 * "lease expired", though the user only paused it). Once the limit has passed, the expiry is the verdict.
 */
export async function withPeerWait<T>(
  client: ChannelClient,
  waitMs: number | undefined,
  signal: AbortSignal | undefined,
  what: WaitFor,
  body: (attempt: PeerWaitTry) => Promise<T>,
  renew?: Renew,
): Promise<T> {
  const deadline = waitMs === undefined ? undefined : performance.now() + waitMs;
  let lastFailed: string | undefined;
  for (let current = client; ; ) {
    let pending: (() => string | undefined) | undefined;
    let awaited: string | undefined;
    let peerIsHere: (() => boolean | undefined) | undefined = what.unknownUntilTold ? undefined : () => false;
    let canRedo = () => false;
    const left = deadline === undefined ? undefined : deadline - performance.now();
    const wait = new PeerWait(
      waitMs,
      left,
      signal,
      () => peerIsHere?.(),
      current,
      what,
      () => lastFailed,
      () => pending?.(),
      () => awaited,
    );
    try {
      return await body({
        client: current,
        signal: wait.signal,
        peerCheck: (isHere) => {
          peerIsHere = isHere;
        },
        redoable: (check) => {
          canRedo = check;
        },
        peerFailed: (line) => {
          lastFailed = line;
        },
        peerPending: (describe) => {
          pending = describe;
        },
        awaiting: (what) => {
          awaited = what;
        },
      });
    } catch (error) {
      const told = wait.explain(error);
      const stillLeft = deadline === undefined ? undefined : deadline - performance.now();
      const timeLeft = !wait.limitPassed && (stillLeft === undefined || stillLeft > 0);
      const lost = current.lost;
      // canRedo last: it rewinds the input for the next try.
      if (!renew || !lost || !hasTrait(lost, "endsSession") || signal?.aborted || !timeLeft || !canRedo())
        throw told;
      current = await renew(stillLeft).catch((error: unknown) => {
        throw renewalFailure(error, what, waitMs);
      });
    } finally {
      wait.stop();
    }
  }
}

/**
 * A new session's connect failed: one the arbiter never answered (stopped, frozen) within what was left of
 * the --timeout is told as the wait's own limit, as a wait that saw it silent is; it named the part left
 * ("did not answer within 18.6 s" for --timeout 20s), a limit the user never gave.
 */
function renewalFailure(error: unknown, what: WaitFor, waitMs: number | undefined): unknown {
  if (waitMs === undefined || !isIvshError(error, "ArbiterUnreachable")) return error;
  return arbiterSilent(what, formatDuration(waitMs));
}

function arbiterSilent(what: WaitFor, limit: string, awaited?: string): IvshError {
  const meanwhile = awaited === undefined ? "" : ` while this end waited ${awaited}`;
  return failure(
    "ArbiterUnreachable",
    what.action,
    `the arbiter stopped answering (is it stopped or frozen? resume or restart it)${meanwhile}, so no ` +
      `${what.peer} could reach this end within ${limit} (--timeout)`,
  );
}

/**
 * How long one end waits for the other to show up (a receiver to join, a sender to start a transfer);
 * past it the transfer ends with a Timeout error. Once both are there, a transfer takes what it takes.
 * An arbiter that went away counts against the limit too: its requests wait, held, for a reconnect that
 * may take the whole reconnect timeout (30 s), so past the limit with the link down they are failed,
 * naming the arbiter, not the peer that could not have come. So is a wait whose arbiter stopped
 * answering (SIGSTOP, a frozen host): a peer comes only through it.
 */
class PeerWait {
  private readonly limit = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private arbiterGone: IvshError | undefined;
  private arbiterSilent = false;
  private sessionLost: IvshError | undefined;
  private readonly silence: ArbiterSilence;
  /** When the limit is due (performance.now() clock); undefined without one. */
  private dueMs: number | undefined;
  /** When the limit was first checked: much later than due, this end was stopped or starved meanwhile. */
  private checkedMs: number | undefined;
  readonly signal: AbortSignal | undefined;

  /**
   * `waitMs`: the limit as the user gave it (--timeout); `leftMs`: what is left of it for this try.
   * `arrived`: whether the peer is there; undefined while that cannot be told yet.
   */
  constructor(
    private readonly waitMs: number | undefined,
    leftMs: number | undefined,
    signal: AbortSignal | undefined,
    private readonly arrived: () => boolean | undefined,
    private readonly client: ChannelClient,
    private readonly what: WaitFor,
    private readonly lastFailed: () => string | undefined = () => undefined,
    private readonly pending: () => string | undefined = () => undefined,
    private readonly awaited: () => string | undefined = () => undefined,
  ) {
    this.silence = new ArbiterSilence(client);
    if (leftMs === undefined) {
      this.signal = signal;
      return;
    }
    this.signal = signal ? AbortSignal.any([signal, this.limit.signal]) : this.limit.signal;
    this.dueMs = performance.now() + Math.max(0, leftMs);
    this.timer = setTimeout(() => this.check(), Math.max(0, leftMs));
  }

  /** Whether the limit ended the wait. */
  get limitPassed(): boolean {
    return this.limit.signal.aborted;
  }

  /** Past the limit: rechecked until the peer is here, or the wait has ended one way or the other. */
  private check(): void {
    this.checkedMs ??= performance.now();
    const here = this.arrived();
    if (here === true) return;
    if (this.lateMs() > LATE_CHECK_MS && performance.now() - this.checkedMs < LATE_LOOK_MS) {
      this.timer = setTimeout(() => this.check(), RECHECK_MS);
      return;
    }
    // A session lost (its lease expired while this end itself was stopped) is why no peer could come, not
    // the arbiter, which ends that session's connection: seen down next, it was blamed ("went away").
    if (this.client.lost && !this.limit.signal.aborted) {
      this.sessionLost = this.client.lost;
      this.limit.abort("the wait limit passed");
      return;
    }
    const link = this.client.arbiterLink;
    if (!link.greeted) {
      // Seen gone only now (this end itself was stopped while the arbiter restarted): its reconnect, a few
      // milliseconds, gets its chance first; it was blamed for not coming back without being asked.
      if (!this.reconnectTried(link)) {
        this.timer = setTimeout(() => this.check(), RECHECK_MS);
        return;
      }
      // How long it was waited for, not the whole limit: gone for its last part, it was said gone for all.
      const start = (this.dueMs ?? 0) - (this.waitMs ?? 0);
      const away = formatDuration(performance.now() - Math.max(link.downSinceMs ?? start, start));
      this.arbiterGone = failure(
        "ConnectionLost",
        this.what.action,
        `the arbiter went away (connection lost) and did not come back in the ${away} it was waited for (--timeout ${formatDuration(this.waitMs ?? 0)})`,
      );
      link.fail(this.arbiterGone);
      this.limit.abort("the wait limit passed");
      return;
    }
    // Connected, but nothing answered for half a lease (the progress line's "stopped answering"); then a
    // peer not known yet (a sender's ring requested, unanswered) is not waited for either. Decided once:
    // an arbiter that answers again while the end gives up changes nothing of why it gave up. Not yet
    // decided (undefined) while this end, itself just resumed from a stop, has its lease confirmed.
    const silent = this.limit.signal.aborted ? undefined : this.silence.silent();
    if (silent !== undefined) {
      this.arbiterSilent = silent;
      if (here === false || silent) this.limit.abort("the wait limit passed");
    }
    this.timer = setTimeout(() => this.check(), RECHECK_MS);
  }

  /**
   * Whether the arbiter, seen gone, had its chance to come back. Seen gone before the limit was due, it
   * had it while this end waited: the limit is the user's bound (an arbiter killed for good was blamed
   * only half a lease after it went, 30 s past a 3 s --timeout with a 60 s lease). Seen gone only after
   * (this end was stopped meanwhile), or before but with the limit checked late (this end was stopped
   * across it), half a lease of this end's reconnecting since then (a restored session has a lease to
   * resume in, so one that took longer would find its session expired anyway).
   */
  private reconnectTried(link: ArbiterLink): boolean {
    const since = link.downSinceMs;
    if (since === undefined || this.dueMs === undefined) return true;
    // Its reconnect did not run while this end was stopped: an arbiter back meanwhile was said not to have come back.
    const late = this.lateMs() > LATE_CHECK_MS;
    const from = since > this.dueMs ? since : late ? this.checkedMs : undefined;
    return from === undefined || performance.now() - from > this.client.leaseMs / 2;
  }

  /** How late the limit was first checked (0 before, or without a limit). */
  private lateMs(): number {
    return this.checkedMs === undefined || this.dueMs === undefined ? 0 : this.checkedMs - this.dueMs;
  }

  /** The Timeout (or silent arbiter's, lost session's) error for the Interrupted one its abort caused. */
  explain(error: unknown): unknown {
    if (this.arbiterGone) return this.arbiterGone;
    if (!this.limit.signal.aborted || !isIvshError(error, "Interrupted")) return error;
    if (this.sessionLost) return this.sessionLost;
    const limit = formatDuration(this.waitMs ?? 0);
    if (this.arbiterSilent) return arbiterSilent(this.what, limit, this.awaited());
    // One came but failed: "no sender showed up" alone sent the user looking for a sender that never ran.
    const failed = this.lastFailed();
    // One is there but not ready (a sender waiting for room for its ring): "no sender showed up" sent the
    // user looking for a sender that was running.
    const pending = failed ? undefined : this.pending();
    const stopped = this.stoppedAcross();
    if (pending)
      return failure(
        "Timeout",
        this.what.action,
        `no ${this.what.peer} started a transfer within ${limit} (--timeout): ${pending}${stopped}`,
      );
    const last = failed ? `; the last that came failed: ${failed}` : "";
    const seen = stopped ? " that this end saw" : "";
    return failure(
      "Timeout",
      this.what.action,
      `no ${this.what.peer} showed up within ${limit} (--timeout)${seen}${last}${stopped}`,
    );
  }

  /**
   * "; this end was itself stopped ..." if the limit was checked more than LATE_CHECK_MS late: a peer that
   * came and went meanwhile went unseen, and "no sender showed up" blamed the peer alone.
   */
  private stoppedAcross(): string {
    const lateMs = this.lateMs();
    if (lateMs <= LATE_CHECK_MS) return "";
    return (
      `; this end was itself stopped (Ctrl-Z, SIGSTOP) or starved until ${formatDuration(roundedToTenths(lateMs))} past its ` +
      "--timeout, and looked only then: run it again"
    );
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

/** Seconds late are told to the tenth: "7.977 s" claimed a precision a stopped process's timer does not have. */
function roundedToTenths(ms: number): number {
  return Math.round(ms / 100) * 100;
}

/**
 * Whether a connected arbiter stopped answering (stopped, its host frozen), told from this end's own stop.
 * An end itself stopped (Ctrl-Z, SIGSTOP) or starved past half its lease has heard nothing for as long,
 * through no fault of the arbiter, which it blamed ("is it stopped or frozen?") for a peer that simply
 * never came. The lease confirmation it sends as it resumes tells; unanswered for half a lease, the
 * arbiter is silent after all.
 */
export class ArbiterSilence {
  /** When this end was first seen resumed from a stop whose lease confirmation is not answered yet. */
  private frozenSeenMs: number | undefined;

  constructor(private readonly client: ChannelClient) {}

  /** Whether the arbiter is silent; undefined while that cannot be told yet (see above). */
  silent(): boolean | undefined {
    if (!this.client.wasFrozen()) {
      this.frozenSeenMs = undefined;
      return this.client.leaseInDoubt();
    }
    if (this.client.lost) return undefined; // its lease expired while it was stopped: the error says so
    this.frozenSeenMs ??= performance.now();
    return performance.now() - this.frozenSeenMs > this.client.leaseMs / 2 ? true : undefined;
  }
}
