/**
 * How a journal file comes to the --state path: written beside it under a name of its own, locked (the
 * running arbiter's, ./journal-claim.ts) and only then given the path, renamed or, where the path must
 * still be free, linked; and the leftovers of writers killed meanwhile, removed. ./state-file.ts appends to
 * it from then on; a compaction's helper (./compaction.ts) writes its snapshot the same way.
 */
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fsyncSync,
  linkSync,
  openSync,
  readdirSync,
  renameSync,
  statSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { failure, IvshError } from "../errors.ts";
import { removeMadeFile } from "../ffi/file-flags.ts";
import { errnoOf } from "../ffi/index.ts";
import { removeFile } from "../remove-file.ts";
import { claimJournal } from "./journal-claim.ts";
import type { StateRecord } from "./records.ts";
import { stateFileFailure } from "./state-errors.ts";

/**
 * Opens `temporary` to become the journal at `path`, with the mode and group the journal has (an
 * operator's 0640 for a monitoring group stays that), else 0600: it holds every client's names and
 * grants. A group this process may not give falls back to 0600 rather than open it to the arbiter's own.
 */
export function openJournalRewrite(temporary: string, path: string): number {
  const found = statSync(path, { throwIfNoEntry: false });
  // Appending from the start: the descriptor becomes the journal's (writeSnapshot), and a write cut back
  // after a failure must leave the next one at the end, not past a hole.
  const { O_WRONLY, O_CREAT, O_TRUNC, O_APPEND } = constants;
  const fd = openSync(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0o600);
  if (!found) return fd;
  try {
    fchownSync(fd, -1, found.gid);
    // Exactly that mode, whatever the umask.
    fchmodSync(fd, found.mode & 0o777);
  } catch {
    fchmodSync(fd, 0o600);
  }
  return fd;
}

/**
 * Writes the journal and returns its descriptor, open for appending. Locked before it takes its path:
 * locked after, its path led for a moment to a journal nobody held, where a second arbiter's start was not
 * refused and another arbiter's keeper wrote its own over it (or reopened this one, could not lock it, and
 * appended to it unawares).
 */
export function writeSnapshot(path: string, records: StateRecord[], fresh: boolean): number {
  const temporary = `${path}.tmp-${process.pid}`;
  const fd = openJournalRewrite(temporary, path);
  try {
    writeFully(fd, records.map((record) => `${JSON.stringify(record)}\n`).join(""));
    fsyncSync(fd);
    claimJournal(fd, temporary);
    if (fresh) publishJournal(temporary, path);
    else renameSync(temporary, path);
    return fd;
  } catch (error) {
    closeSync(fd);
    // A failed start must leave nothing of its own: not even a half-written copy (a full disk). Its
    // directory made append-only meanwhile, the write's failure is told, not the removal's EPERM.
    const failed =
      error instanceof IvshError
        ? error
        : stateFileFailure(error, path, `write the state file ${path}`, fresh);
    throw removeMadeFile(temporary, failed, "a copy of the state journal being written");
  }
}

/**
 * A new journal takes its path only if that is still free: linked, not renamed, so that of two arbiters
 * started at the same moment on one new --state (each with its own region) the second is refused. Renamed,
 * each replaced the other's journal, and each then wrote its own again at every sweep.
 */
function publishJournal(temporary: string, path: string): void {
  try {
    linkSync(temporary, path);
  } catch (error) {
    const errno = errnoOf(error);
    if (errno === "EEXIST")
      throw failure(
        "ArbiterRunning",
        `create the state journal ${path}`,
        "another arbiter started on this --state at the same moment and created it first (stop one of them: each region needs a --state of its own)",
      );
    // A file system without hard links: renamed, as a rewrite is.
    if (!["EPERM", "EOPNOTSUPP", "ENOTSUP"].includes(errno ?? "")) throw error;
    renameSync(temporary, path);
    return;
  }
  removeFile(temporary);
}

/**
 * Snapshots a killed arbiter (or its compaction) left half written: never the state, always garbage. Not
 * those of a live process (the suffix is the pid of the arbiter that writes them): another arbiter starting
 * at the same moment on this --state, whose rename then failed ENOENT, told as "the directory does not exist".
 */
export function removeLeftovers(path: string): void {
  const directory = dirname(path);
  const prefixes = [`${basename(path)}.compact-`, `${basename(path)}.tmp-`];
  for (const name of readdirSync(directory)) {
    const prefix = prefixes.find((start) => name.startsWith(start));
    if (prefix !== undefined && !writerAlive(name.slice(prefix.length))) removeFile(join(directory, name));
  }
}

/** Whether the process `pid` (a leftover's suffix) runs, other than this one (a dead one's pid reused). */
function writerAlive(pid: string): boolean {
  const number = Number(pid);
  if (!/^[0-9]+$/.test(pid) || !Number.isSafeInteger(number) || number === process.pid) return false;
  try {
    process.kill(number, 0);
    return true;
  } catch (error) {
    return errnoOf(error) === "EPERM";
  }
}

/** write(2) may write less than asked (a full disk, a signal): a torn line mid-file would break replay. */
export function writeFully(fd: number, text: string | Buffer): void {
  const bytes = typeof text === "string" ? Buffer.from(text, "utf8") : text;
  for (let done = 0; done < bytes.byteLength; ) done += writeSync(fd, bytes, done, bytes.byteLength - done);
}
