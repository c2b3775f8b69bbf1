/**
 * A client's lease, kept from its side: heartbeats often enough that a process starved of the CPU for most
 * of a lease still keeps it, the judgement whether this process may have been frozen past it (its grants
 * may be others' now), and an arbiter that answers nothing given up on as one gone.
 */
import { DEFAULT_RECONNECT_TIMEOUT_MS } from "./connect-options.ts";
import { silentArbiter } from "./resume-tries.ts";
import type { Transport } from "./transport.ts";

/**
 * Heartbeat timer ticks per lease. The arbiter then hears from an idle client every sixth of a lease or
 * so: a process starved of the CPU for most of a lease on a loaded host still keeps it.
 */
const HEARTBEATS_PER_LEASE = 6;

/** What the keeper reads of its client's session; the lease may change when a restarted arbiter resumes it. */
export interface LeasedSession {
  leaseMs(): number;
  /** close() has begun: no heartbeat is due any more. */
  closing(): boolean;
  /** A resume is under way: its reconnect timeout, not the keeper, decides when the arbiter is gone. */
  resuming(): boolean;
  reconnectTimeoutMs: number | undefined;
}

type Link = Pick<Transport, "request" | "connected" | "lost" | "greeted" | "lastAnsweredSentMs" | "fail">;

export class LeaseKeeper {
  private timer: ReturnType<typeof setInterval> | undefined;
  private periodMs = 0;
  /** When the heartbeat timer last ran, and whether a gap before that left our lease in doubt. */
  private lastTickMs = performance.now();
  private frozen = false;
  private heartbeatInFlight = false;
  private heartbeatSentMs = 0;

  constructor(
    private readonly link: Link,
    private readonly session: LeasedSession,
  ) {}

  /** Ticks until stop(), without keeping the process alive. */
  start(): void {
    clearInterval(this.timer);
    this.periodMs = this.periodForLease();
    this.timer = setInterval(() => this.tick(), this.periodMs);
    this.timer.unref();
  }

  /**
   * After a resume, whose arbiter may have been restarted with another --lease: ticking still for the old
   * one, an idle client heartbeat every 10 s against a 2 s lease and lost its session. The resume's answer
   * proves this process ran just now, so no gap before it counts as a freeze.
   */
  resumed(): void {
    // A close() waiting for the resume to say goodbye stopped the timer for good.
    if (this.session.closing()) return;
    if (this.periodForLease() === this.periodMs) return;
    this.lastTickMs = performance.now();
    this.start();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private periodForLease(): number {
    return Math.max(20, this.session.leaseMs() / HEARTBEATS_PER_LEASE);
  }

  /** A heartbeat unless one is on its way or an answer arrived recently (Client.keepAlive). */
  keepAlive(): void {
    const { link } = this;
    if (this.session.closing() || this.heartbeatInFlight || !link.connected || link.lost) return;
    const quiet = performance.now() - link.lastAnsweredSentMs;
    if (quiet < this.session.leaseMs() / (2 * HEARTBEATS_PER_LEASE)) return;
    this.heartbeatInFlight = true;
    this.heartbeatSentMs = performance.now();
    link
      .request("heartbeat", {}, AbortSignal.abort()) // awaited by nobody: it keeps no process alive
      .catch(() => {}) // a lost session marks the transport lost: callers see it
      .finally(() => {
        this.heartbeatInFlight = false;
      });
  }

  /** Client.leaseInDoubt: this process frozen, or a greeted arbiter silent for half a lease. */
  leaseInDoubt(): boolean {
    if (this.wasFrozen()) return true;
    // Greeted (a resume's unanswered hello is the arbiter still down), yet nothing answered for half a lease.
    return this.link.greeted && performance.now() - this.link.lastAnsweredSentMs > this.session.leaseMs() / 2;
  }

  /** This process (not the arbiter) may have been stopped or starved past half its lease. */
  wasFrozen(): boolean {
    return this.frozen || performance.now() - this.lastTickMs > this.session.leaseMs() / 2;
  }

  /**
   * Asks the arbiter whether the session is still live; throws (LeaseExpired, ...) if it is not. `letGo`:
   * see Transport.request (the timer's own confirmation, which nobody awaits).
   */
  async confirm(letGo?: AbortSignal): Promise<void> {
    const asked = performance.now();
    await this.link.request("heartbeat", {}, letGo);
    this.frozen = false;
    this.lastTickMs = Math.max(this.lastTickMs, asked);
  }

  private tick(): void {
    const now = performance.now();
    const gap = now - this.lastTickMs;
    this.lastTickMs = now;
    if (gap > this.session.leaseMs() / 2 && !this.session.closing()) {
      this.frozen = true;
      // Awaited by nobody: a stopped arbiter that never answers it kept a script that forgot close() alive.
      this.confirm(AbortSignal.abort()).catch(() => {}); // a lost lease marks the transport lost; callers see it
    } else {
      this.giveUpOnSilentArbiter(now);
      this.keepAlive();
    }
  }

  /** A connected arbiter silent for the reconnect timeout is given up on, as one gone (silentArbiter);
   * while it reconnects, the timeout is the resume's to keep. */
  private giveUpOnSilentArbiter(now: number): void {
    const { link, session } = this;
    if (!this.heartbeatInFlight || session.resuming() || !link.connected || link.lost) return;
    const heard = Math.max(this.heartbeatSentMs, link.lastAnsweredSentMs);
    const limitMs = Math.max(session.reconnectTimeoutMs ?? DEFAULT_RECONNECT_TIMEOUT_MS, session.leaseMs());
    const silence = silentArbiter(now - heard, limitMs);
    if (silence) link.fail(silence);
  }
}
