/**
 * The --state file: JSON lines of StateRecord, a snapshot followed by records appended as state changes.
 * Each change is one write(2) (led by a header when it has several records, ./records.ts), so a `kill -9`
 * of the arbiter leaves every completed change in the page cache and at most the one being written torn,
 * which is dropped whole on load. fsync is not needed for that failure (the region lives in RAM, so a
 * host crash loses it anyway); a snapshot is fsynced before it replaces the old file, so compaction
 * (./compaction.ts) never loses state. It runs once the records appended outnumber both
 * `compactAfterRecords()` and the records the file started from: the file stays within about twice its
 * snapshot, and the O(state) cost of a compaction is spread over as many appends, O(1) each.
 */
import {
  close,
  closeSync,
  constants,
  fstatSync,
  ftruncateSync,
  openSync,
  readSync,
  renameSync,
  statSync,
} from "node:fs";
import { failure, IvshError } from "../errors.ts";
import { flaggedDirectoryRefusal } from "../ffi/file-flags.ts";
import { removeFile } from "../remove-file.ts";
import { JournalBytes } from "./journal-bytes.ts";
import { claimJournal } from "./journal-claim.ts";
import { removeLeftovers, writeFully, writeSnapshot } from "./journal-publish.ts";
import { changeHeader, type Journal, type StateRecord } from "./records.ts";
import { stateFileFailure } from "./state-errors.ts";

/**
 * A transaction's records could not be written (a full file system): nothing of it is in the journal, so
 * the caller must undo what it applied in memory. The message says which file and what to do.
 */
export class JournalWriteFailed extends IvshError {}

/** What StateFile.tryWrite writes and cuts off: a page of empty lines. */
const TRIAL_PAGE = Buffer.alloc(4096, "\n");

/**
 * Appended records beyond which a compaction may start: 20 000, or IVSH_COMPACT_AFTER_RECORDS (tests make
 * compactions happen with a handful of requests). Read when the state file is opened, so a bad value is
 * an error of `ivsh host`'s start, not of loading this module; startArbiter reads it before it touches
 * anything, so that start disturbs nothing.
 */
export function compactAfterRecords(setting = process.env.IVSH_COMPACT_AFTER_RECORDS): number {
  if (setting === undefined || setting === "") return 20_000;
  const value = Number(setting);
  if (!Number.isSafeInteger(value) || value < 1)
    throw failure(
      "InvalidArgument",
      `use IVSH_COMPACT_AFTER_RECORDS='${setting}'`,
      "it is not a whole number of records of 1 or more (unset it for the default)",
    );
  return value;
}

/** What a compaction reads (the file's first `upto` bytes) and where it writes the snapshot. */
export interface CompactionPlan {
  readonly upto: number;
  readonly out: string;
  /**
   * `StateFile.failedWrites` when it began. A write that fails part way is cut back, but a helper copying
   * meanwhile may have taken its start; it would then skip as many bytes of what is written after.
   */
  readonly failedWrites: number;
}

export class StateFile implements Journal {
  private fd: number;
  private appended = 0;
  /** Records the file held when it was last rewritten. */
  private baseRecords: number;
  /** Whether a transaction is in progress; its lines gather in `pendingText`, written when it ends. */
  private inTransaction = false;
  private pendingText = "";
  private pendingLines = 0;
  /** Region changes of the transaction in progress, made once its lines are written (`afterWrite`). */
  private effects: (() => void)[] = [];
  private readonly bytes = new JournalBytes();
  /** Where the last whole record ends: a write that fails part way is cut back to here. */
  private size: number;
  /** Writes that reached the file: the arbiter tells from it that the journal takes changes again. */
  writes = 0;
  /** Writes that failed, and trial writes (`tryWrite`): each cut back, which a compaction must not follow. */
  failedWrites = 0;

  private constructor(
    readonly path: string,
    fd: number,
    baseRecords: number,
    private readonly compactAfter: number,
  ) {
    this.fd = fd;
    this.baseRecords = baseRecords;
    this.size = fstatSync(fd).size;
  }

  /**
   * Writes `snapshot` as the whole file (atomically, via a temporary file) and opens it for appending.
   * `fresh`: the caller found no file at `path`, and one there now is another arbiter's, which started on
   * this --state at the same moment: refused, not replaced.
   */
  static create(path: string, snapshot: StateRecord[], fresh = false): StateFile {
    // Before anything is written or opened: refused later, it left the journal's descriptor open.
    const compactAfter = compactAfterRecords();
    // An append-only directory takes the snapshot's file, but not its move into place nor its removal.
    const flagged = flaggedDirectoryRefusal(path, "pass another --state");
    if (flagged) throw failure("PermissionDenied", `write the state file ${path}`, flagged);
    try {
      removeLeftovers(path);
      return new StateFile(path, writeSnapshot(path, snapshot, fresh), snapshot.length, compactAfter);
    } catch (error) {
      if (error instanceof IvshError) throw error;
      throw stateFileFailure(error, path, `write the state file ${path}`, fresh);
    }
  }

  append(record: StateRecord): void {
    const line = `${JSON.stringify(record)}\n`;
    this.appended++;
    if (!this.inTransaction) this.write(line, 1);
    else {
      this.pendingText += line;
      this.pendingLines++;
    }
  }

  /**
   * Runs `change` and writes every record it appends in one write(2): a request's effects and the reply
   * cached for it reach the file together or not at all, so a re-sent request is never run twice.
   */
  transaction<T>(change: () => T): T {
    if (this.inTransaction) return change();
    this.inTransaction = true;
    try {
      return change();
    } finally {
      const text = this.pendingText;
      const lines = this.pendingLines;
      this.inTransaction = false;
      this.pendingText = "";
      this.pendingLines = 0;
      const effects = this.effects;
      if (effects.length > 0) this.effects = [];
      if (lines > 0) this.write(text, lines);
      for (const effect of effects) effect();
    }
  }

  /**
   * Runs `effect` once what was appended is written: at the end of the transaction in progress, or now.
   * A region word changed before a write that then fails stayed changed: a close refused NoSpace had
   * released its client's lock all the same, and the undo, which replays the journal, puts back no word.
   */
  afterWrite(effect: () => void): void {
    if (this.inTransaction) this.effects.push(effect);
    else effect();
  }

  /**
   * Appends whole records or none: a write that fails part way (ENOSPC after some bytes) is cut back to
   * the last whole record, so the file never holds a torn line the next start would have to drop.
   * `text` is `lines` records, each ending in a newline; several are led by a change header.
   */
  private write(text: string, lines: number): void {
    const bytes = this.bytes.encode(lines > 1 ? changeHeader(lines) + text : text);
    try {
      writeFully(this.fd, bytes);
    } catch (error) {
      this.appended -= lines;
      this.failedWrites++;
      try {
        ftruncateSync(this.fd, this.size);
      } catch {
        // Cutting back frees space, so it does not fail for the reason the write did; if it did anyway,
        // the next start drops the torn line (a torn tail is expected after a kill -9 too).
      }
      throw this.writeFailed(error);
    }
    this.size += bytes.byteLength;
    this.writes++;
  }

  private writeFailed(error: unknown): JournalWriteFailed {
    const cause = stateFileFailure(error, this.path, `record a change in the state journal ${this.path}`);
    return new JournalWriteFailed(cause.code, cause.message, { cause: error });
  }

  /**
   * Throws, as a change's write would, unless the journal takes a page written at its end now; the page is
   * cut off again at once. Empty lines, which every release's reader skips: left by a kill in between, or
   * a cut that failed, they are no record. A compaction copying meanwhile is refused, as after a failed
   * write (`failedWrites`).
   */
  tryWrite(): void {
    this.failedWrites++;
    try {
      writeFully(this.fd, TRIAL_PAGE);
    } catch (error) {
      throw this.writeFailed(error);
    } finally {
      try {
        ftruncateSync(this.fd, this.size);
      } catch {
        // Not cut: the next records follow the empty lines, and a failed write is cut back to their end.
        this.size = fstatSync(this.fd).size;
      }
    }
  }

  get needsCompaction(): boolean {
    return this.appended > Math.max(this.compactAfter, this.baseRecords);
  }

  /** Where a compaction may read up to (the size now: always a record's end) and the file it writes. */
  compactionPlan(): CompactionPlan {
    const [upto, failedWrites] = [fstatSync(this.fd).size, this.failedWrites];
    return { upto, out: `${this.path}.compact-${process.pid}`, failedWrites };
  }

  /**
   * Takes over the file a compaction wrote: a snapshot of the journal's first `plan.upto` bytes followed by
   * a copy of its records up to `copiedUpto`. Appends what was written since, and renames it over the
   * journal. Synchronous, so nothing is appended in between.
   */
  finishCompaction(
    { out, failedWrites }: CompactionPlan,
    {
      snapshotRecords,
      copiedUpto,
      tailRecords,
    }: { snapshotRecords: number; copiedUpto: number; tailRecords: number },
  ): void {
    if (failedWrites !== this.failedWrites)
      throw failure("StateInvalid", `take over ${out}`, "a write to the journal failed while it was made");
    const tail = readFrom(this.path, copiedUpto);
    // Never created here: if the snapshot is gone (removed as a leftover by another arbiter on this
    // state), a file holding only the tail must not replace the journal.
    const fd = openSync(out, constants.O_WRONLY | constants.O_APPEND);
    try {
      if (!startsWithBegin(out)) throw failure("StateInvalid", `take over ${out}`, "it is not a snapshot");
      // Not fsynced, as appended records never are (see above): the snapshot under it was, by the helper.
      writeFully(fd, tail);
      claimJournal(fd, out);
      renameSync(out, this.path);
      this.size = fstatSync(fd).size;
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    // The descriptor follows the rename: it is the journal's from now on, with no reopen that could fail.
    // The old file's last descriptor is closed off the event loop: freeing tens of megabytes of its
    // pages and blocks took 4–7 ms.
    close(this.fd, () => {});
    this.fd = fd;
    this.appended = tailRecords + countLines(tail);
    this.baseRecords = snapshotRecords;
  }

  /** A name of the file this appends to, also once `path` no longer leads to it: what an undo replays. */
  get ownName(): string {
    return `/proc/self/fd/${this.fd}`;
  }

  /** Whether `path` still names the file this appends to; one it cannot look at (EACCES) is taken as so. */
  stillAtPath(): boolean {
    try {
      const [named, mine] = [statSync(this.path, { throwIfNoEntry: false }), fstatSync(this.fd)];
      return named !== undefined && named.ino === mine.ino && named.dev === mine.dev;
    } catch {
      return true;
    }
  }

  /** Writes `snapshot` at `path` again (removed or replaced); if `vacant`, only while nothing is there. */
  rewrite(snapshot: StateRecord[], vacant = false): void {
    const fresh = StateFile.create(this.path, snapshot, vacant);
    close(this.fd, () => {});
    [this.fd, this.size, this.appended, this.baseRecords] = [fresh.fd, fresh.size, 0, snapshot.length];
  }

  abandonCompaction({ out }: CompactionPlan): void {
    removeFile(out);
  }

  close(): void {
    closeSync(this.fd);
  }
}

function readFrom(path: string, offset: number): Buffer {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const bytes = Buffer.allocUnsafe(Math.max(0, size - offset));
    for (let done = 0; done < bytes.byteLength; ) {
      const got = readSync(fd, bytes, done, bytes.byteLength - done, offset + done);
      if (got === 0) break;
      done += got;
    }
    return bytes;
  } finally {
    closeSync(fd);
  }
}

function startsWithBegin(path: string): boolean {
  const fd = openSync(path, "r");
  try {
    const head = Buffer.alloc(16);
    const got = readSync(fd, head, 0, head.byteLength, 0);
    return head.subarray(0, got).toString("utf8").startsWith('{"t":"begin"');
  } finally {
    closeSync(fd);
  }
}

export function countLines(bytes: Buffer): number {
  let lines = 0;
  for (let at = bytes.indexOf(10); at >= 0; at = bytes.indexOf(10, at + 1)) lines++;
  return lines;
}
