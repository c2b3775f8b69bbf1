/**
 * Sessions that ended (goodbye, disconnect, lost lease) while the state journal could not record it: their
 * locks were released as owner-died at once, and only the end's record waits. The journal still holds
 * each as live, and a restart resumes what the journal holds: its client would be told its locks were
 * kept while another client may hold them. So the end is recorded as soon as the journal takes changes
 * again (the sweep tries, not only when the session's lease runs out), and a stop tries it once more.
 */
import { log } from "../log.ts";
import { endNotRecorded, type JournalOutage } from "./journal-outage.ts";
import type { EndReason } from "./oplog.ts";

export class LateEnds {
  /** How each ended (a retry that fails again keeps the first reason). */
  private readonly reasons = new Map<number, EndReason>();

  constructor(
    private readonly outage: JournalOutage,
    /** Ends the session for good, recording it; calls `notRecorded` again if the journal refuses. */
    private readonly sessions: { endSession(clientId: number, reason: EndReason): void },
  ) {}

  /** A hello resuming such a session is refused, as once its end is recorded. */
  refuseResume(clientId: number): void {
    const reason = this.reasons.get(clientId);
    if (reason !== undefined) throw endNotRecorded(clientId, reason);
  }

  notRecorded(clientId: number, reason: EndReason): void {
    if (!this.reasons.has(clientId)) this.reasons.set(clientId, reason);
  }

  /** The session's end was recorded: how it ended, if that was earlier (its end waited for the journal). */
  recorded(clientId: number): EndReason | undefined {
    const reason = this.reasons.get(clientId);
    this.reasons.delete(clientId);
    return reason;
  }

  /**
   * Records the ends that wait, if the journal may take changes: no write failed since the last that
   * succeeded, or the full file system has room again (a refusal up front would count as one more
   * refused change for every sweep of the outage).
   */
  retry(): void {
    if (this.reasons.size === 0 || !this.outage.takesChanges()) return;
    for (const [clientId, reason] of [...this.reasons]) this.sessions.endSession(clientId, reason);
  }

  /** At a stop: the last chance to record them; those that still wait are said (a restart resumes them). */
  stopping(statePath: string): void {
    this.retry();
    if (this.reasons.size === 0) return;
    const clients = [...this.reasons.keys()].map((clientId) => `#${clientId}`).join(", ");
    log.error(
      `the state journal ${statePath} could not record the end of the session of client ${clients}, whose ` +
        "locks were released as owner-died: the next start restores it, and a client that reconnects in " +
        "time resumes it believing it still holds those locks (give the journal room before stopping the arbiter)",
    );
  }
}
