/**
 * The state journal kept at its path. Removed or replaced under the arbiter (an `rm`, a clean-up of its
 * directory), appends went on into a file no name led to, the compaction failed saying "nothing is lost",
 * and the next start found no state and discarded every allocation. So each sweep, and a stop, checks that
 * the journal is still at its path and writes it again from the arbiter's state if not.
 */
import { lstatSync } from "node:fs";
import { isIvshError } from "../errors.ts";
import { log } from "../log.ts";
import type { Compactor } from "./compaction.ts";
import { otherJournalHolder } from "./journal-claim.ts";
import type { StateRecord } from "./records.ts";
import type { StateFile } from "./state-file.ts";

export class JournalKeeper {
  /** Why the journal is not at its path, said once until it is written again; for `ivsh status` too. */
  private gone: string | undefined;
  /** Another arbiter took the journal's path: this one no longer keeps a journal there. */
  private taken = false;

  constructor(
    private readonly stateFile: StateFile,
    private readonly compactor: Compactor,
    private readonly snapshot: () => StateRecord[],
  ) {}

  /** Another arbiter took the journal's path while this one ran: this one's allocations are kept nowhere. */
  get takenOver(): boolean {
    return this.taken;
  }

  /** What the operator must mend about the journal's path, for `ivsh status` (`problems`). */
  get problems(): string[] {
    return this.gone === undefined ? [] : [this.gone];
  }

  /** Whether the journal is at its path now (what a stop may say: a restart resumes from it). */
  keep(): boolean {
    return this.keepAt(true);
  }

  private keepAt(lookAgain: boolean): boolean {
    const path = this.stateFile.path;
    if (this.stateFile.stillAtPath()) return true;
    this.compactor.cancel();
    // Another arbiter's now (started on these paths after they were removed): not written over, then or
    // after that arbiter stops (its journal is what its region's next start needs).
    if (this.taken) return false;
    // Looked at before the holder: a journal another arbiter makes there after this look is not replaced.
    const vacant = nothingAt(path);
    const holder = otherJournalHolder(path);
    if (holder !== undefined) {
      this.gone =
        `the state journal ${path} was removed while the arbiter ran and another arbiter${holder} keeps its own ` +
        "there now: this arbiter's allocations are recorded nowhere a restart finds (stop one of them: each " +
        "needs a --state of its own)";
      log.error(this.gone);
      this.taken = true;
      return false;
    }
    try {
      this.stateFile.rewrite(this.snapshot(), vacant);
    } catch (error) {
      // Made there since the look (another arbiter's first start): looked at again, at once, it is said to be
      // that arbiter's, not "gone" (nor, at a stop, a journal the next start will not find).
      if (vacant && lookAgain && isIvshError(error, "ArbiterRunning")) return this.keepAt(false);
      if (this.gone === undefined) {
        this.gone =
          `the state journal ${path} was removed or replaced while the arbiter ran and cannot be written again ` +
          `(${error instanceof Error ? error.message : error}): a restart now would discard every allocation; ` +
          "the arbiter retries at each sweep";
        log.error(this.gone);
      }
      return false;
    }
    this.gone = undefined;
    log.warn(
      `the state journal ${path} was removed or replaced while the arbiter ran: wrote it again from the arbiter's state (leave it in place: a restart resumes from it)`,
    );
    return true;
  }
}

/** Whether no file is at `path` (one this process cannot look at is taken as there). */
function nothingAt(path: string): boolean {
  try {
    return lstatSync(path, { throwIfNoEntry: false }) === undefined;
  } catch {
    return false;
  }
}
