/**
 * Compacting the --state journal without stopping the arbiter. Rewriting the file as a snapshot costs
 * O(state): with 100 000 segments, 109 ms of JSON and fsync for the snapshot alone
 * (scripts/experiments/arbiter-stalls.ts), during which no request would be answered. So a separate process does it (`ivsh compact-state`, hidden): it replays the journal's
 * first `upto` bytes, which no longer change, into a state of its own and writes that state's snapshot to
 * a temporary file. The arbiter meanwhile goes on appending, so the child then copies what was appended
 * since `upto` after its snapshot, round after round, until a round finds little (`catchUp`). The arbiter
 * appends only the rest, the records of the last moments, and renames the file over the journal in one
 * synchronous step, so no record is lost in between. (When the arbiter copied the whole tail itself, a
 * tail of 5–10 MB written while the child ran held its event loop 13–40 ms: read, write, close and line
 * count, timed in `ivsh bench --scale`.)
 *
 * A crash at any point leaves either the old journal or the new one whole: the rename is atomic and the
 * snapshot is fsynced before it.
 */
import { closeSync, fstatSync, fsyncSync, openSync, readSync } from "node:fs";
import type { Subprocess } from "bun";
import { failure } from "../errors.ts";
import { errnoOf } from "../ffi/index.ts";
import { log } from "../log.ts";
import { selfCommand } from "../self.ts";
import { keepingIgnored } from "../signals.ts";
import { LONGEST_TIMER_MS } from "../units.ts";
import { openJournalRewrite, writeFully } from "./journal-publish.ts";
import { RecordedState } from "./recorded-state.ts";
import type { StateRecord } from "./records.ts";
import { type CompactionPlan, countLines, type StateFile } from "./state-file.ts";
import { parseStateLines } from "./state-read.ts";

/** A catch-up round that copies less than this is the last: the arbiter copies the rest. */
const CATCH_UP_ENOUGH_BYTES = 64 * 1024;

/** What the child hands back: the snapshot's records, and how far into the journal `out` now reaches. */
export interface CompactionResult {
  snapshotRecords: number;
  /** Journal bytes `out` holds the records of: `upto` plus what catching up copied. */
  copiedUpto: number;
  /** Records catching up copied after the snapshot. */
  tailRecords: number;
}

/**
 * The child's work: the snapshot of the state that `path`'s first `upto` bytes describe, written to `out`
 * and fsynced, then the records appended since, copied after it (`catchUp`).
 */
export function compactJournal(path: string, upto: number, out: string): CompactionResult {
  const snapshotRecords = writeSnapshotOf(path, upto, out);
  return { snapshotRecords, ...catchUp(path, upto, out) };
}

/**
 * Copies `path` from `from` onward to the end of `out`, round after round while the arbiter appends,
 * until a round copies less than CATCH_UP_ENOUGH_BYTES. Only whole lines: a record being written may show
 * only its start; the arbiter copies from where this stops.
 */
function catchUp(path: string, from: number, out: string): { copiedUpto: number; tailRecords: number } {
  const source = openSync(path, "r");
  const target = openSync(out, "a");
  let copiedUpto = from;
  let tailRecords = 0;
  let synced = false;
  try {
    for (;;) {
      const available = fstatSync(source).size - copiedUpto;
      const bytes = Buffer.allocUnsafe(Math.max(0, available));
      const got = available > 0 ? readSync(source, bytes, 0, available, copiedUpto) : 0;
      const whole = got > 0 ? bytes.lastIndexOf(10, got - 1) + 1 : 0;
      if (whole > 0) writeFully(target, bytes.subarray(0, whole));
      copiedUpto += whole;
      tailRecords += countLines(bytes.subarray(0, whole));
      if (whole < CATCH_UP_ENOUGH_BYTES) {
        if (synced) return { copiedUpto, tailRecords };
        // Not for durability (appended records never are fsynced) but for the arbiter: renaming over an
        // existing file makes ext4 start writing the new one back (auto_da_alloc), in the caller. Then one
        // more round, for what was appended while this waited for the disk.
        fsyncSync(target);
        synced = true;
      }
    }
  } finally {
    closeSync(source);
    closeSync(target);
  }
}

function writeSnapshotOf(path: string, upto: number, out: string): number {
  const text = readPrefix(path, upto);
  const { records, tornTail } = parseStateLines(text, path);
  if (tornTail) throw failure("StateInvalid", `compact ${path}`, `byte ${upto} is not the end of a record`);
  const begin = records[0];
  if (begin?.t !== "begin")
    throw failure("StateInvalid", `compact ${path}`, "it does not start with a 'begin' record");
  // Replay only applies records: limits and slot memory are for live requests, so it needs no stand-ins.
  const state = new RecordedState(begin.geometry);
  for (const record of records) state.apply(record);
  const snapshot = state.snapshot(begin.region);
  writeRecords(out, snapshot, path);
  return snapshot.length;
}

function readPrefix(path: string, upto: number): string {
  const fd = openSync(path, "r");
  try {
    const bytes = Buffer.allocUnsafe(upto);
    for (let done = 0; done < upto; ) {
      const got = readJournal(fd, bytes, done, upto - done, path);
      if (got === 0)
        throw failure("StateInvalid", `compact ${path}`, `it ends at byte ${done}, before ${upto}`);
      done += got;
    }
    return bytes.toString("utf8");
  } finally {
    closeSync(fd);
  }
}

/** readSync's error names no file (a directory as --state said only "EISDIR"): this one does. */
function readJournal(fd: number, bytes: Buffer, at: number, length: number, path: string): number {
  try {
    return readSync(fd, bytes, at, length, at);
  } catch (error) {
    const why = errnoOf(error) === "EISDIR" ? "it is a directory" : String(error);
    throw failure("StateInvalid", `read the state journal ${path}`, why);
  }
}

/** One write per megabyte or so: a snapshot of 100 000 segments is tens of megabytes of JSON. */
function writeRecords(out: string, records: StateRecord[], journal: string): void {
  const fd = openJournalRewrite(out, journal);
  try {
    const batch = 4096;
    for (let at = 0; at < records.length; at += batch) {
      const text = records
        .slice(at, at + batch)
        .map((record) => `${JSON.stringify(record)}\n`)
        .join("");
      writeFully(fd, text);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** After a failed compaction, how long before the next try (the journal only grows meanwhile). */
const RETRY_AFTER_MS = 60_000;

/**
 * How long a helper may run before it is killed and the compaction tried again later: a snapshot of
 * 100 000 segments takes about a second, so only a helper that was stopped (SIGSTOP) or is stuck on its
 * disk runs this long, and until it ends no compaction starts and the journal grows unseen.
 * IVSH_COMPACT_DEADLINE_MS sets it (tests).
 */
function compactionDeadlineMs(setting = process.env.IVSH_COMPACT_DEADLINE_MS): number {
  const value = Number(setting);
  // Past setTimeout's limit the timer fires at once, and every helper was killed as overdue.
  return setting && Number.isSafeInteger(value) && value > 0
    ? Math.min(value, LONGEST_TIMER_MS)
    : 10 * 60_000;
}

/** How a helper process ended. */
interface HelperEnd {
  pid: number;
  code: number;
  signal: string | undefined;
  /** It ran past the deadline and was killed for it. */
  overdue: boolean;
  stdout: string;
  stderr: string;
}

/** What the warning says when compaction failed: why, and what the operator may do about it. */
interface CompactionFailure {
  why: string;
  advice: string;
}

const DISK_ADVICE = "check the disk's free space and that the journal's directory is writable";

/** The arbiter's side: starts the child when the journal needs it, and swaps its result in. */
export class Compactor {
  private running: Subprocess | undefined;
  private stopped = false;
  private notBeforeMs = 0;
  private done = 0;
  private readonly deadlineMs = compactionDeadlineMs();
  /** Bumped by `cancel`: a helper started before then has nothing to take over. */
  private generation = 0;

  constructor(private readonly journal: StateFile) {}

  /** Starts a compaction in a child process if the journal is due one and none is running. */
  maybeStart(): void {
    if (this.running || this.stopped || !this.journal.needsCompaction) return;
    if (performance.now() < this.notBeforeMs) return;
    // Removed, and not written again yet (the sweep retries): a helper would fail on the missing file, and
    // its warning say "nothing is lost" where the arbiter said a restart would discard every allocation.
    if (!this.journal.stillAtPath()) return;
    const plan = this.journal.compactionPlan();
    try {
      this.running = this.spawn(plan);
    } catch (error) {
      // Out of descriptors, the binary replaced by an upgrade: the journal only grows meanwhile.
      this.giveUpForNow(plan, {
        why: `its helper could not start: ${messageOf(error)}`,
        advice: DISK_ADVICE,
      });
    }
  }

  /** How many compactions were taken over since the arbiter started (`ivsh status`). */
  get completed(): number {
    return this.done;
  }

  private spawn(plan: CompactionPlan): Subprocess {
    // A stop signal the arbiter ignores (SIGINT, for a script's `ivsh host &`) its helper ignores too.
    const child = Bun.spawn(
      keepingIgnored([
        ...selfCommand(),
        "compact-state",
        ...["--state", this.journal.path, "--upto", String(plan.upto), "--out", plan.out],
        ...["--arbiter", String(process.pid)],
      ]),
      // process.env, not Bun's default (the environment this process started with): what was taken out
      // of it (IVSH_CLOSED_AT_START, which describes this process only) must not reach the helper.
      { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: process.env },
    );
    const generation = this.generation;
    let overdue = false;
    const deadline = setTimeout(() => {
      overdue = true;
      child.kill("SIGKILL");
    }, this.deadlineMs);
    deadline.unref();
    const output = Promise.all([
      child.exited,
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
    ]);
    void output.then(([code, stdout, stderr]) => {
      clearTimeout(deadline);
      if (this.running === child) this.running = undefined;
      const signal = child.signalCode === null ? undefined : String(child.signalCode);
      // Cancelled: nothing to take over, but its file goes (no helper of this arbiter runs now to share its name).
      if (generation !== this.generation) return this.journal.abandonCompaction(plan);
      this.finish(plan, { pid: child.pid, code, signal, overdue, stdout, stderr });
    });
    return child;
  }

  stop(): void {
    this.stopped = true;
    this.running?.kill("SIGKILL");
  }

  /** The journal was written anew: a helper's offsets are into the old file, so its result is dropped. */
  cancel(): void {
    this.generation++;
    this.running?.kill("SIGKILL");
  }

  private finish(plan: CompactionPlan, end: HelperEnd): void {
    // Stopping; or the journal was replaced meanwhile (the sweep writes it again from memory): the helper may
    // have read the other file, and a take-over would drop what was appended to this one since.
    if (this.stopped || !this.journal.stillAtPath()) {
      this.journal.abandonCompaction(plan);
      return;
    }
    const result = end.code === 0 && !end.signal ? parseResult(end.stdout, plan.upto) : undefined;
    if (!result) {
      this.giveUpForNow(plan, helperFailure(end));
      return;
    }
    try {
      this.journal.finishCompaction(plan, result);
    } catch (error) {
      this.giveUpForNow(plan, { why: messageOf(error), advice: DISK_ADVICE });
      return;
    }
    this.done++;
    log.debug(
      `compacted ${this.journal.path}: ${result.snapshotRecords} records of state, ${plan.upto} bytes replayed`,
    );
  }

  private giveUpForNow(plan: CompactionPlan, { why, advice }: CompactionFailure): void {
    this.journal.abandonCompaction(plan);
    this.notBeforeMs = performance.now() + RETRY_AFTER_MS;
    log.warn(
      `could not compact ${this.journal.path} (${why}); nothing is lost, but the file keeps growing: ` +
        `${advice}; next try in ${RETRY_AFTER_MS / 1000} s`,
    );
  }
}

/**
 * Why a helper gave nothing to take over. A signal is not a disk's fault: "exit 137: no output, check
 * the disk's free space" sent the operator of a helper the OOM killer ended to look at the wrong thing.
 */
function helperFailure({ pid, code, signal, overdue, stdout, stderr }: HelperEnd): CompactionFailure {
  const helper = `its helper \`ivsh compact-state\` (pid ${pid})`;
  if (overdue)
    return {
      why: `${helper} had not finished after ${formatDuration(compactionDeadlineMs())} and was killed`,
      advice:
        "a helper runs for seconds at most; one this slow was stopped (SIGSTOP) or waits on a stuck disk",
    };
  if (signal)
    return {
      why: `${helper} was killed by ${signal}`,
      advice:
        signal === "SIGKILL"
          ? "if nobody killed it by hand, the kernel's OOM killer may have (see `dmesg`): give the arbiter more memory"
          : "it was sent that signal from outside the arbiter",
    };
  return {
    why: `${helper} failed, exit ${code}: ${stderr.trim() || stdout.trim() || "no output"}`,
    advice: DISK_ADVICE,
  };
}

function formatDuration(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The child's output line: "SNAPSHOT_RECORDS COPIED_UPTO TAIL_RECORDS" (`formatResult`). */
export function formatResult({ snapshotRecords, copiedUpto, tailRecords }: CompactionResult): string {
  return `${snapshotRecords} ${copiedUpto} ${tailRecords}\n`;
}

/** The child's line, or undefined if it is not one: a copy claimed to end before the snapshot's end would duplicate records. */
function parseResult(stdout: string, upto: number): CompactionResult | undefined {
  const numbers = stdout.trim().split(" ").map(Number);
  if (numbers.length !== 3 || !numbers.every((value) => Number.isSafeInteger(value) && value >= 0))
    return undefined;
  const [snapshotRecords, copiedUpto, tailRecords] = numbers as [number, number, number];
  return copiedUpto >= upto ? { snapshotRecords, copiedUpto, tailRecords } : undefined;
}
