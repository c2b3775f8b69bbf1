/**
 * What the operator is told while the --state journal cannot be written (its file system full, or
 * failing): the error once per JOURNAL_FAILURE_LOG_MS rather than once per refused request, and one line
 * when changes are recorded again, with how many were refused meanwhile. Without that line the log's last
 * word stayed "refusing changes", whether or not the arbiter had long recovered.
 */
import { log } from "../log.ts";
import type { JournalWriteFailed } from "./state-file.ts";

const JOURNAL_FAILURE_LOG_MS = 10_000;

export class JournalOutage {
  /** performance.now() of the first refusal of the outage; undefined while the journal is written. */
  private sinceMs: number | undefined;
  private refused = 0;
  private loggedMs = Number.NEGATIVE_INFINITY;

  /** A change could not be recorded (and was undone). */
  refusedChange(error: JournalWriteFailed): void {
    this.sinceMs ??= performance.now();
    this.refused++;
    if (performance.now() - this.loggedMs < JOURNAL_FAILURE_LOG_MS) return;
    this.loggedMs = performance.now();
    log.error(
      `${error.message}: refusing changes until it can be written (said at most every ${JOURNAL_FAILURE_LOG_MS / 1000} s)`,
    );
  }

  /** A change reached the journal at `path`: an outage, if there was one, is over. */
  recorded(path: string): void {
    if (this.sinceMs === undefined) return;
    const seconds = ((performance.now() - this.sinceMs) / 1000).toFixed(1);
    log.info(
      `the state journal ${path} takes changes again: ${this.refused} ${this.refused === 1 ? "was" : "were"} refused in the ${seconds} s it could not be written`,
    );
    this.sinceMs = undefined;
    this.refused = 0;
    this.loggedMs = Number.NEGATIVE_INFINITY;
  }
}
