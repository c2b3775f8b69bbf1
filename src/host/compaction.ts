/**
 * Compacting the --state journal without stopping the arbiter. Rewriting the file as a snapshot costs
 * O(state): with 100 000 segments, 109 ms of JSON and fsync for the snapshot alone
 * (scripts/experiments/arbiter-stalls.ts), during which no request would be answered. So a separate process does it (`ivsh compact-state`, hidden): it replays the journal's
 * first `upto` bytes, which no longer change, into a state of its own and writes that state's snapshot to
 * a temporary file. The arbiter meanwhile goes on appending; when the child is done it appends the
 * records written since `upto` to the snapshot and renames it over the journal, work that is O(records
 * since), in one synchronous step, so no record is lost in between.
 *
 * A crash at any point leaves either the old journal or the new one whole: the rename is atomic and the
 * snapshot is fsynced before it.
 */
import { closeSync, fsyncSync, openSync, readSync } from "node:fs";
import type { Subprocess } from "bun";
import { failure } from "../errors.ts";
import { log } from "../log.ts";
import { selfCommand } from "../self.ts";
import type { StateRecord } from "./records.ts";
import { ArbiterState, type SlotMemory } from "./state.ts";
import { type CompactionPlan, parseStateLines, type StateFile, writeFully } from "./state-file.ts";

/** Replay touches no slot memory (only live requests do); this stands in for it. */
const NO_SLOT_MEMORY: SlotMemory = {
  initialise() {},
  clear() {},
  releaseDeadOwner: () => false,
};

/**
 * The child's work: the snapshot of the state that `path`'s first `upto` bytes describe, written to `out`
 * and fsynced. Returns how many records the snapshot holds.
 */
export function compactJournal(path: string, upto: number, out: string): number {
  const text = readPrefix(path, upto);
  const { records, tornTail } = parseStateLines(text, path);
  if (tornTail) throw failure("StateInvalid", `compact ${path}`, `byte ${upto} is not the end of a record`);
  const begin = records[0];
  if (begin?.t !== "begin")
    throw failure("StateInvalid", `compact ${path}`, "it does not start with a 'begin' record");
  const state = new ArbiterState(begin.geometry, { clientQuotaBlocks: 0, vmQuotaBlocks: 0 }, NO_SLOT_MEMORY);
  for (const record of records) state.apply(record);
  const snapshot = state.snapshot(begin.region);
  writeRecords(out, snapshot);
  return snapshot.length;
}

function readPrefix(path: string, upto: number): string {
  const fd = openSync(path, "r");
  try {
    const bytes = Buffer.allocUnsafe(upto);
    for (let done = 0; done < upto; ) {
      const got = readSync(fd, bytes, done, upto - done, done);
      if (got === 0)
        throw failure("StateInvalid", `compact ${path}`, `it ends at byte ${done}, before ${upto}`);
      done += got;
    }
    return bytes.toString("utf8");
  } finally {
    closeSync(fd);
  }
}

/** One write per megabyte or so: a snapshot of 100 000 segments is tens of megabytes of JSON. */
function writeRecords(out: string, records: StateRecord[]): void {
  const fd = openSync(out, "w", 0o600);
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

/** The arbiter's side: starts the child when the journal needs it, and swaps its result in. */
export class Compactor {
  private running: Subprocess | undefined;
  private stopped = false;
  private notBeforeMs = 0;
  private done = 0;

  constructor(private readonly journal: StateFile) {}

  /** Starts a compaction in a child process if the journal is due one and none is running. */
  maybeStart(): void {
    if (this.running || this.stopped || !this.journal.needsCompaction) return;
    if (performance.now() < this.notBeforeMs) return;
    const plan = this.journal.compactionPlan();
    try {
      this.running = this.spawn(plan);
    } catch (error) {
      // Out of descriptors, the binary replaced by an upgrade: the journal only grows meanwhile.
      this.giveUpForNow(plan, error);
    }
  }

  /** How many compactions were taken over since the arbiter started (`ivsh status`). */
  get completed(): number {
    return this.done;
  }

  private spawn(plan: CompactionPlan): Subprocess {
    const child = Bun.spawn(
      [
        ...selfCommand(),
        "compact-state",
        ...["--state", this.journal.path, "--upto", String(plan.upto), "--out", plan.out],
        ...["--arbiter", String(process.pid)],
      ],
      { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
    );
    const output = Promise.all([
      child.exited,
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
    ]);
    void output.then(([code, stdout, stderr]) => {
      this.running = undefined;
      this.finish(plan, code, stdout, stderr);
    });
    return child;
  }

  stop(): void {
    this.stopped = true;
    this.running?.kill("SIGKILL");
  }

  private finish(plan: CompactionPlan, code: number, stdout: string, stderr: string): void {
    const records = Number(stdout.trim());
    try {
      if (this.stopped || code !== 0 || !Number.isSafeInteger(records))
        throw new Error(
          this.stopped ? "the arbiter stopped" : `exit ${code}: ${stderr.trim() || "no output"}`,
        );
      this.journal.finishCompaction(plan, records);
      this.done++;
      log.debug(`compacted ${this.journal.path}: ${records} records of state, ${plan.upto} bytes replayed`);
    } catch (error) {
      if (this.stopped) this.journal.abandonCompaction(plan);
      else this.giveUpForNow(plan, error);
    }
  }

  private giveUpForNow(plan: CompactionPlan, error: unknown): void {
    this.journal.abandonCompaction(plan);
    this.notBeforeMs = performance.now() + RETRY_AFTER_MS;
    log.warn(
      `could not compact ${this.journal.path} (${error instanceof Error ? error.message : error}); ` +
        `nothing is lost, but the file keeps growing: check the disk's free space and that ` +
        `${this.journal.path}'s directory is writable; next try in ${RETRY_AFTER_MS / 1000} s`,
    );
  }
}
