/**
 * Reading a --state file: whether there is one, the geometry its first record describes, and its records
 * (a torn last line or change left out). The arbiter's start and the compaction helper read it so;
 * ./state-file.ts appends to it.
 */
import { closeSync, constants, openSync, readFileSync, readSync, statSync } from "node:fs";
import { failure } from "../errors.ts";
import { errnoOf } from "../ffi/index.ts";
import type { Geometry } from "../region/layout.ts";
import { badField, notARecord, STATE_FORMAT, type StateRecord, wholeChanges } from "./records.ts";

export interface LoadedState {
  records: StateRecord[];
  /** A final partial line was found and ignored (the arbiter died mid-write). */
  tornTail: boolean;
  /** The line each record is on (change headers are lines too): what an error names. */
  lines: number[];
}

export function loadStateFile(path: string): LoadedState | undefined {
  if (!stateFileExists(path)) return undefined;
  const loaded = parseStateLines(readStateText(path), path);
  if (loaded.records[0]?.t !== "begin")
    throw failure(
      "StateInvalid",
      `read ${path}`,
      "it does not start with a 'begin' record (not an ivsh state file?): pass another --state, or remove it to start empty",
    );
  checkBegin(loaded.records[0], path);
  // Only now: a newer format's records need not have these fields (its begin says so, above).
  for (const [index, record] of loaded.records.entries())
    checkFields(record, loaded.lines[index] ?? index + 1, path);
  return loaded;
}

/** Refuses a record with a field no arbiter writes, naming its line: replay would take it as it is. */
function checkFields(record: { t: string }, line: number, path: string): void {
  const why = badField(record);
  if (why)
    throw failure(
      "StateInvalid",
      `read ${path}`,
      `line ${line} (a '${record.t}' record): ${why}: the file is damaged (restore it, or remove it to start empty: its allocations are lost)`,
    );
}

/**
 * A 'begin' record this ivsh can resume from: another format's (a newer ivsh's) fields need not be these,
 * and reading them crashed the start with a TypeError, or formatted a just-emptied region over it.
 */
function checkBegin(begin: Extract<StateRecord, { t: "begin" }>, path: string): void {
  if (begin.format !== STATE_FORMAT)
    throw failure(
      "StateInvalid",
      `read ${path}`,
      `its format is ${begin.format}, but this ivsh reads format ${STATE_FORMAT}: another version of ivsh wrote it ` +
        "(run that version, or pass another --state; removing it discards every allocation)",
    );
  if (typeof begin.region !== "string" || typeof begin.geometry !== "object" || begin.geometry === null)
    throw failure(
      "StateInvalid",
      `read ${path}`,
      "its 'begin' record has no region or geometry: the file is damaged (restore it, or remove it to start empty: its allocations are lost)",
    );
}

/** A state file's first line is its 'begin' record: far shorter than this. */
const FIRST_RECORD_BYTES = 64 * 1024;
/**
 * The geometry a state file's 'begin' record describes, read without loading the rest (a restart takes it
 * as its flags' defaults); undefined if there is none to read: the full load says why, later.
 */
export function recordedGeometry(path: string): Geometry | undefined {
  let fd: number | undefined;
  try {
    // Non-blocking: a FIFO would wait for a writer in open(2), where no signal ends it (checkStateOwner refuses it).
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const start = Buffer.alloc(FIRST_RECORD_BYTES);
    const length = readSync(fd, start, 0, start.length, 0);
    const first = JSON.parse(start.toString("utf8", 0, length).split("\n", 1)[0] ?? "") as StateRecord;
    return first.t === "begin" && first.format === STATE_FORMAT ? first.geometry : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Whether there is a state file. Only "no such file" means none: one this user cannot see (a directory it
 * may not search) must not pass for absent, or the region holding its allocations would be formatted anew.
 */
export function stateFileExists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (error) {
    if (errnoOf(error) === "ENOENT") return false;
    readStateText(path); // throws the error that says what to do
    throw error;
  }
}

/** The state file's text; one that cannot be read is the user's to fix, so the error says how. */
function readStateText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    const errno = errnoOf(error) || "an error";
    const why: Record<string, string> = {
      EISDIR: "it is a directory (pass --state FILE for the state file)",
      EACCES: "this user may not read it (EACCES): run `ivsh host` as its owner, or pass --state FILE",
    };
    throw failure(
      errno === "EACCES" ? "PermissionDenied" : "StateInvalid",
      `read the state file ${path}`,
      why[errno] ?? `reading it failed with ${errno} (pass --state FILE for another state file)`,
    );
  }
}

/** The records of a state file's text; a torn last line is left out and reported. */
export function parseStateLines(text: string, path: string): LoadedState {
  const lines = text.split("\n");
  const records: unknown[] = [];
  const numbers: number[] = [];
  let tornTail = false;
  for (const [index, line] of lines.entries()) {
    if (line === "") continue;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      if (index === lines.length - 1) {
        tornTail = true;
        continue;
      }
      // Nothing of it read as a journal: it may be another file named by mistake, as one without a begin is.
      throw failure(
        "StateInvalid",
        `read ${path}`,
        records.length === 0
          ? `line ${index + 1} is not a JSON record (not an ivsh state file?): pass another --state, or, if it is this arbiter's journal, restore it or remove it to start empty (its allocations are lost)`
          : `line ${index + 1} is not a JSON record: the file is damaged (restore it, or remove it to start empty: its allocations are lost)`,
      );
    }
    const why = notARecord(record);
    if (why)
      throw failure(
        "StateInvalid",
        `read ${path}`,
        `line ${index + 1} ${why}: the file is damaged, or was written by a newer ivsh (restore it, or run that ivsh; removing it discards every allocation)`,
      );
    // A change header's count frames the records after it, in every format: one that is no count cut them all.
    if ((record as { t: string }).t === "tx") checkFields(record as { t: string }, index + 1, path);
    records.push(record);
    if ((record as { t: string }).t !== "tx") numbers.push(index + 1);
  }
  const whole = wholeChanges(records);
  return {
    records: whole.records,
    tornTail: tornTail || whole.cut,
    lines: numbers.slice(0, whole.records.length),
  };
}
