/**
 * The --state file: JSON lines of StateRecord, a snapshot followed by records appended as state changes.
 *
 * Each record is one write(2) of one line, so a `kill -9` of the arbiter leaves every completed record in
 * the page cache and at most the line being written torn; a torn last line is dropped on load. fsync is
 * not needed for that failure (the region itself lives in RAM, so a host crash loses it anyway); the
 * snapshot is fsynced before it replaces the old file so compaction can never lose state.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { failure } from "../errors.ts";
import type { Journal, StateRecord } from "./records.ts";

/** Appended records beyond which the file is rewritten as a snapshot. */
const COMPACT_AFTER_RECORDS = 20_000;

export interface LoadedState {
  records: StateRecord[];
  /** A final partial line was found and ignored (the arbiter died mid-write). */
  tornTail: boolean;
}

export function loadStateFile(path: string): LoadedState | undefined {
  if (!existsSync(path)) return undefined;
  const lines = readFileSync(path, "utf8").split("\n");
  const records: StateRecord[] = [];
  let tornTail = false;
  for (const [index, line] of lines.entries()) {
    if (line === "") continue;
    try {
      records.push(JSON.parse(line) as StateRecord);
    } catch {
      if (index === lines.length - 1) {
        tornTail = true;
        continue;
      }
      throw failure(
        "StateInvalid",
        `read ${path}`,
        `line ${index + 1} is not a JSON record (remove the file to start empty)`,
      );
    }
  }
  if (records[0]?.t !== "begin")
    throw failure(
      "StateInvalid",
      `read ${path}`,
      "it does not start with a 'begin' record (not an ivsh state file?)",
    );
  return { records, tornTail };
}

export class StateFile implements Journal {
  private fd: number;
  private appended = 0;
  /** Lines of the transaction in progress, written together when it ends. */
  private pending: string[] | undefined;

  private constructor(
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /** Writes `snapshot` as the whole file (atomically, via a temporary file) and opens it for appending. */
  static create(path: string, snapshot: StateRecord[]): StateFile {
    writeSnapshot(path, snapshot);
    return new StateFile(path, openSync(path, "a"));
  }

  append(record: StateRecord): void {
    const line = `${JSON.stringify(record)}\n`;
    this.appended++;
    if (this.pending) this.pending.push(line);
    else writeFully(this.fd, line);
  }

  /**
   * Runs `change` and writes every record it appends in one write(2): a request's effects and the reply
   * cached for it reach the file together or not at all, so a re-sent request is never run twice.
   */
  transaction<T>(change: () => T): T {
    if (this.pending) return change();
    this.pending = [];
    try {
      return change();
    } finally {
      const lines = this.pending;
      this.pending = undefined;
      if (lines.length > 0) writeFully(this.fd, lines.join(""));
    }
  }

  get needsCompaction(): boolean {
    return this.appended > COMPACT_AFTER_RECORDS;
  }

  compact(snapshot: StateRecord[]): void {
    writeSnapshot(this.path, snapshot);
    closeSync(this.fd);
    this.fd = openSync(this.path, "a");
    this.appended = 0;
  }

  close(): void {
    closeSync(this.fd);
  }
}

function writeSnapshot(path: string, records: StateRecord[]): void {
  const temporary = `${path}.tmp-${process.pid}`;
  const fd = openSync(temporary, "w", 0o600);
  try {
    writeFully(fd, records.map((record) => `${JSON.stringify(record)}\n`).join(""));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
}

/** write(2) may write less than asked (a full disk, a signal): a torn line mid-file would break replay. */
function writeFully(fd: number, text: string): void {
  const bytes = Buffer.from(text, "utf8");
  for (let done = 0; done < bytes.byteLength; ) done += writeSync(fd, bytes, done, bytes.byteLength - done);
}
