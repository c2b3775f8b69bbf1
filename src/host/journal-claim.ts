/**
 * A running arbiter's state journal is its own: it holds a flock on the file it appends to. Its files
 * removed under it (an `rm /dev/shm/ivsh*`) and a second arbiter started on the same paths, the second found
 * the first's journal (written again by its keeper) and took it over, and from then on each arbiter's
 * keeper wrote its own journal over the other's at every sweep, both warning each second, the file holding
 * whichever wrote last. Now the start refuses a journal another arbiter holds, and a keeper leaves one alone.
 */
import { failure } from "../errors.ts";
import { tryLockExclusive } from "../ffi/index.ts";
import { flockHolderPid, lockHolder } from "../holders.ts";

/** Marks the journal open at `fd` as this arbiter's; a file system without flock leaves it unmarked. */
export function claimJournal(fd: number, path: string): void {
  try {
    tryLockExclusive(fd, path);
  } catch {
    // No flock there (some network file systems): the journal works as before, only unguarded.
  }
}

/** " (pid N, COMMAND)" of another process that holds the journal at `path`; undefined if none does. */
export function otherJournalHolder(path: string): string | undefined {
  const pid = flockHolderPid(path);
  if (pid === undefined || pid === process.pid) return undefined;
  return lockHolder(path) || ` (pid ${pid})`;
}

/** Refuses, before anything is made, a --state another running arbiter keeps its journal in. */
export function refuseHeldJournal(path: string): void {
  const holder = otherJournalHolder(path);
  if (holder === undefined) return;
  throw failure(
    "ArbiterRunning",
    `resume from ${path}`,
    `another arbiter${holder} is running with its state journal there (its region file or socket may have ` +
      "been removed under it): stop it first, or pass another --state (each arbiter needs its own)",
  );
}
