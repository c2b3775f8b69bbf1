/**
 * What the operator is told while the --state journal cannot be written (its file system full, or
 * failing): the error once per JOURNAL_FAILURE_LOG_MS rather than once per refused request, and one line
 * when changes are recorded again, with how many were refused meanwhile. Without that line the log's last
 * word stayed "refusing changes", whether or not the arbiter had long recovered.
 */
import { statfsSync } from "node:fs";
import { dirname } from "node:path";
import { failure, type IvshError } from "../errors.ts";
import { errnoOf } from "../ffi/index.ts";
import { log } from "../log.ts";
import type { JournalOutageReport } from "../protocol/status-report.ts";
import type { EndReason } from "./oplog.ts";
import type { Journal, StateRecord } from "./records.ts";
import { JournalWriteFailed, type StateFile } from "./state-file.ts";

const JOURNAL_FAILURE_LOG_MS = 10_000;
/** While the journal refuses, one change per this long is let through to find out whether it still does. */
const PROBE_AFTER_MS = 1000;
/** Free space on a file system that was full beyond which changes are let through at once. */
const ROOM_BYTES = 64 * 1024;

/**
 * A change refused before anything of it was applied: nothing to undo. Undoing a change that was applied
 * means replaying the journal, O(state): 138 ms per refused request with 60 000 segments, for every
 * request while the file system stayed full, each holding up every client.
 */
export class RefusedUpFront extends JournalWriteFailed {}

/**
 * A session whose end the journal could not record is kept until its lease runs out, to record it then;
 * but its locks were released as owner-died at once, and others may hold them now. Resumed, its client
 * was told its session (locks and grants) was kept: it is told the session ended, as without the outage.
 */
export function endNotRecorded(clientId: number, reason: EndReason): IvshError {
  return failure(
    "SessionUnknown",
    `resume client ${clientId}`,
    `its session ended (${reason === "lease expired" ? "its lease expired" : reason}): its locks were released, ` +
      "and only the end's record waits for the state journal to take changes again (start a new session)",
  );
}

export class JournalOutage {
  /** performance.now() of the first refusal of the outage; undefined while the journal is written. */
  private sinceMs: number | undefined;
  private refused = 0;
  private loggedMs = Number.NEGATIVE_INFINITY;
  /** The last write's failure, and when a change may try again. */
  private failed: { error: JournalWriteFailed; probeAtMs: number } | undefined;
  private directory = "";
  /** Transactions in progress (they nest), and whether the one running has been let through. */
  private depth = 0;
  private admitted = false;

  /** `file` as the state's journal, refusing changes up front while it is known to fail. */
  gate(file: StateFile): Journal {
    this.directory = dirname(file.path);
    return {
      append: (record: StateRecord) => file.append(record),
      admit: () => this.admit(),
      afterWrite: (effect: () => void) => file.afterWrite(effect),
    };
  }

  /**
   * Runs one transaction, whose records are let through or refused together. Decided per record, an
   * alloc's segment and grant were let through (room again), zeroing its blocks took that room (the region
   * on the journal's tmpfs, as the default REGION.state is), and its reply was refused up front: after the
   * two were applied, with nothing undone, so the client was told NoSpace while it held the segment.
   */
  transaction<T>(change: () => T): T {
    this.depth++;
    try {
      return change();
    } finally {
      if (--this.depth === 0) this.admitted = false;
    }
  }

  private admit(): void {
    if (this.admitted) return;
    if (this.failed && performance.now() < this.failed.probeAtMs && !this.roomAgain()) {
      const { code, message } = this.failed.error;
      throw new RefusedUpFront(code, message);
    }
    this.admitted = this.depth > 0;
  }

  /** Lets the next change be tried, whatever failed last: a stop's last try at the ends that wait. */
  probeNow(): void {
    if (this.failed) this.failed.probeAtMs = Number.NEGATIVE_INFINITY;
  }

  /**
   * Whether a change may be tried now without being refused up front for a failure known already: none,
   * room again, or the probe is due (else a fault other than a full file system, passed, went unnoticed
   * until some client's change was let through).
   */
  takesChanges(): boolean {
    return this.failed === undefined || performance.now() >= this.failed.probeAtMs || this.roomAgain();
  }

  /**
   * A full file system with room again (the operator freed some): a change need not wait for the probe.
   * Only for ENOSPC: under a quota (EDQUOT) statfs shows room all along, and letting every change through
   * would have each one applied, refused by the write and undone by replaying the journal.
   */
  private roomAgain(): boolean {
    if (errnoOf(this.failed?.error.cause) !== "ENOSPC") return false;
    try {
      const { bavail, bsize } = statfsSync(this.directory);
      return bavail * bsize >= ROOM_BYTES;
    } catch {
      return false;
    }
  }

  /** A change could not be recorded (and was undone, or refused before it was applied). */
  refusedChange(error: JournalWriteFailed): void {
    this.sinceMs ??= performance.now();
    this.refused++;
    if (!(error instanceof RefusedUpFront))
      this.failed = { error, probeAtMs: performance.now() + PROBE_AFTER_MS };
    if (performance.now() - this.loggedMs < JOURNAL_FAILURE_LOG_MS) return;
    this.loggedMs = performance.now();
    log.error(
      `${error.message}: refusing changes until it can be written (said at most every ${JOURNAL_FAILURE_LOG_MS / 1000} s)`,
    );
  }

  /** The outage in progress, for `ivsh status`: how long, how many changes refused, and why. */
  report(): JournalOutageReport | undefined {
    if (this.sinceMs === undefined) return undefined;
    const forMs = Math.round(performance.now() - this.sinceMs);
    return { forMs, refused: this.refused, error: this.failed?.error.message ?? "" };
  }

  /**
   * The outage as the service manager's STATUS= says it: words that stay the same while it lasts (not its
   * length nor count), as STATUS= is sent only when they change. Over at the next change recorded, or
   * the next sweep's trial write that succeeds (`probe`).
   */
  problems(): string[] {
    if (this.sinceMs === undefined) return [];
    return [`the state journal refuses changes: ${this.failed?.error.message ?? "its last write failed"}`];
  }

  /**
   * At each sweep while the journal refuses changes: a page written at its end and cut off again
   * (StateFile.tryWrite), so that the outage ends within a sweep of its cause going away (room made, a
   * quota or file size limit raised, a failing disk back), not at the next change, which an idle arbiter
   * may not see for hours (a status poll is none). Statfs would tell only of room on a full file system.
   * Costs a write(2) and an ftruncate(2) per sweep while the outage lasts, nothing otherwise.
   */
  probe(file: StateFile): void {
    if (this.sinceMs === undefined) return;
    try {
      file.tryWrite();
    } catch (error) {
      // Not put off: changes keep their own try once a PROBE_AFTER_MS. A page may not fit where a record
      // does (a full file system's last block, a size limit or quota raised by less): put off at every
      // sweep, which comes sooner than PROBE_AFTER_MS, every change was refused up front until a page fit.
      if (error instanceof JournalWriteFailed)
        this.failed = { error, probeAtMs: this.failed?.probeAtMs ?? performance.now() + PROBE_AFTER_MS };
      return;
    }
    this.recorded(file.path, " (a trial write at its end succeeded)");
  }

  /** A change reached the journal at `path` (or a trial write, `how`): an outage, if there was one, is over. */
  recorded(path: string, how = ""): void {
    if (this.sinceMs === undefined) return;
    const seconds = ((performance.now() - this.sinceMs) / 1000).toFixed(1);
    log.info(
      `the state journal ${path} takes changes again${how}: ${this.refused} ${this.refused === 1 ? "was" : "were"} refused in the ${seconds} s it could not be written`,
    );
    this.sinceMs = undefined;
    this.failed = undefined;
    this.refused = 0;
    this.loggedMs = Number.NEGATIVE_INFINITY;
  }
}
