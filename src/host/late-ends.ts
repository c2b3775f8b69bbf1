/**
 * Sessions that ended (goodbye, disconnect, lost lease) while the state journal could not record it: their
 * locks were released as owner-died at once, and only the end's record waits. The journal still holds
 * each as live, and a restart resumes what the journal holds: its client would be told its locks were
 * kept while another client may hold them. So the end is recorded as soon as the journal takes changes
 * again (the sweep tries, not only when the session's lease runs out), a stop tries it once more, and
 * until then the session is listed in the region's header, whose next start ends it (./unrecorded-ends.ts).
 */
import { log } from "../log.ts";
import { endNotRecorded, type JournalOutage } from "./journal-outage.ts";
import type { EndReason } from "./oplog.ts";
import {
  type ListRepair,
  listUnrecordedEnd,
  restoreUnrecordedEnds,
  unlistUnrecordedEnd,
} from "./unrecorded-ends.ts";

/** What LateEnds needs of the arbiter. */
export interface LateEndsHost {
  /** Ends the session for good, recording it; calls `notRecorded` again if the journal refuses. */
  endSession(clientId: number, reason: EndReason): void;
  readonly region: { headerWords(): Int32Array };
  readonly epoch: number;
}

export class LateEnds {
  /** How each ended (a retry that fails again keeps the first reason). */
  private readonly reasons = new Map<number, EndReason>();
  /** Those the header had no room to list: a restart before their end is recorded restores them. */
  private readonly unlisted = new Set<number>();

  constructor(
    private readonly outage: JournalOutage,
    private readonly host: LateEndsHost,
  ) {}

  /** A hello resuming such a session is refused, as once its end is recorded. */
  refuseResume(clientId: number): void {
    const reason = this.reasons.get(clientId);
    if (reason !== undefined) throw endNotRecorded(clientId, reason);
  }

  notRecorded(clientId: number, reason: EndReason): void {
    if (this.reasons.has(clientId)) return;
    this.reasons.set(clientId, reason);
    if (!listUnrecordedEnd(this.host.region.headerWords(), this.host.epoch, clientId))
      this.unlisted.add(clientId);
  }

  /** The session's end was recorded: how it ended, if that was earlier (its end waited for the journal). */
  recorded(clientId: number): EndReason | undefined {
    const reason = this.reasons.get(clientId);
    if (reason === undefined) return undefined;
    this.reasons.delete(clientId);
    this.unlisted.delete(clientId);
    unlistUnrecordedEnd(this.host.region.headerWords(), clientId);
    return reason;
  }

  /**
   * Puts the header's list back as we wrote it (every sweep: any guest can write it). An entry we did not
   * write would end a live session at the next start.
   */
  restoreListing(): ListRepair {
    const listed = [...this.reasons.keys()].filter((clientId) => !this.unlisted.has(clientId));
    const { stillUnlisted, ...repair } = restoreUnrecordedEnds(
      this.host.region.headerWords(),
      this.host.epoch,
      listed,
    );
    for (const clientId of stillUnlisted) this.unlisted.add(clientId);
    return repair;
  }

  /**
   * Records the ends that wait, if the journal may take changes: no write failed since the last that
   * succeeded, the full file system has room again, or a probe is due (at most one a second: a failed
   * one replays the journal). A refusal up front would count as one more refused change every sweep.
   */
  retry(): void {
    if (this.reasons.size === 0 || !this.outage.takesChanges()) return;
    for (const [clientId, reason] of [...this.reasons]) this.host.endSession(clientId, reason);
  }

  /**
   * At a stop: the last chance to record them. Those listed in the header are ended by the next start;
   * those that did not fit there are said (a restart restores them).
   */
  stopping(statePath: string): void {
    // Tried whatever failed last: a fault other than a full file system (EIO, a quota, a file-size limit)
    // may have passed with no change to find out. The first end tells; if refused, the rest are up front.
    if (this.reasons.size > 0) this.outage.probeNow();
    for (const [clientId, reason] of [...this.reasons]) this.host.endSession(clientId, reason);
    if (this.unlisted.size === 0) return;
    const clients = [...this.unlisted].map((clientId) => `#${clientId}`).join(", ");
    log.error(
      `the state journal ${statePath} could not record the end of the session of client ${clients}, whose ` +
        "locks were released as owner-died: the next start restores it, and a client that reconnects in " +
        "time resumes it believing it still holds those locks (give the journal room before stopping the arbiter)",
    );
  }
}
