/**
 * A running arbiter's state journal is its own: it holds a flock on the file it appends to. Its files
 * removed under it (an `rm /dev/shm/ivsh*`) and a second arbiter started on the same paths, the second found
 * the first's journal (written again by its keeper) and took it over, and from then on each arbiter's
 * keeper wrote its own journal over the other's at every sweep, both warning each second, the file holding
 * whichever wrote last. Now the start refuses a journal another arbiter holds, and a keeper leaves one alone.
 */
import { resolve } from "node:path";
import { failure } from "../errors.ts";
import { tryLockExclusive } from "../ffi/index.ts";
import { flockHolderPid, lockHolder } from "../holders.ts";
import { heldByAnyone } from "../region/region-file.ts";

/** Marks the journal open at `fd` as this arbiter's; a file system without flock leaves it unmarked. */
export function claimJournal(fd: number, path: string): void {
  try {
    tryLockExclusive(fd, path);
  } catch {
    // No flock there (some network file systems): the journal works as before, only unguarded.
  }
}

/**
 * " (pid N, COMMAND)" of another process that holds the journal at `path`, "" if one it cannot name does;
 * undefined if none does. Tried, not only looked up in /proc/locks: that list leaves out a holder of another
 * PID namespace (an arbiter in a container sharing /dev/shm), so a start there was not refused and a keeper
 * there wrote over the other's journal.
 */
export function otherJournalHolder(path: string): string | undefined {
  const held = heldByAnyone(path);
  if (held === false) return undefined;
  const pid = flockHolderPid(path);
  // This process's own: an earlier journal of its own (closed off the event loop), or one embedded.
  if (pid === process.pid) return undefined;
  if (pid === undefined) return held ? " (a process this one cannot see: another PID namespace)" : undefined;
  return lockHolder(path) || ` (pid ${pid})`;
}

/**
 * Refuses, before anything is made, a --state another running arbiter keeps its journal in. One that also
 * holds `regionPath` is serving that region (a second `ivsh host` with another --socket, the state left at
 * its default): said so, rather than guessed to have had its files removed under it. One whose journal
 * names another region (`stateRegion`, its 'begin' record's) serves that one: said so, as "remove the
 * state file" (a mismatch's advice) would have the operator delete a live journal.
 */
export function refuseHeldJournal(path: string, regionPath: string, stateRegion?: string): void {
  const holder = otherJournalHolder(path);
  if (holder === undefined) return;
  if (holder !== "" && otherJournalHolder(regionPath) === holder)
    throw failure(
      "ArbiterRunning",
      `serve ${regionPath}`,
      `another arbiter${holder} is serving this region, with its state journal ${path} (stop it first)`,
    );
  if (stateRegion !== undefined && resolve(stateRegion) !== resolve(regionPath))
    throw failure(
      "ArbiterRunning",
      `resume from ${path}`,
      `another arbiter${holder} is running with its state journal there, for the region ${stateRegion}: ` +
        "pass another --state for this region (each arbiter needs its own)",
    );
  throw failure(
    "ArbiterRunning",
    `resume from ${path}`,
    `another arbiter${holder} is running with its state journal there (its region file or socket may have ` +
      "been removed under it): stop it first, or pass another --state (each arbiter needs its own)",
  );
}
