/**
 * Undoing a keep: whose rename failed (the file FILE replaced back to its name); whose verdict could not
 * be told (the receiver's session was lost: frozen past its lease): FILE back to FILE.partial, the file it
 * replaced back to FILE.
 */
import { lstatSync } from "node:fs";
import { isIvshError } from "../errors.ts";
import { removalRefusal } from "../ffi/file-flags.ts";
import { errnoOf } from "../ffi/index.ts";
import { flockListed, lockHolder } from "../holders.ts";
import { removeFile } from "../remove-file.ts";
import { putBackFailure, unkeepFailure } from "./keep-failures.ts";
import { exchangeOrGone, identityAt, movedOrLeft, moveUnlessTaken } from "./name-moves.ts";

/**
 * A name an undo moved a file from by a hard link and could not remove after it (its directory made
 * append-only meanwhile), with why (unlink's errno, the directory's flag): `final`, FILE still a name of
 * the copy, now FILE.partial too (the file it replaced stays aside: FILE is not free for it); `aside`, the
 * replaced file's second name, that file back at FILE. Not thrown: the undo is done as far as it can be,
 * and the failure that caused it is what the receiver tells; these are for it to say as well.
 */
export type UndoLeft = { final?: string; aside?: { name: string; why: string } };

/**
 * `where.final` back to `where.copy`, and `where.old` (the file it replaced, if any) back to `final`; only
 * while `final` is still the kept copy (`identity`, "dev:ino"). Frozen past the lease, a receiver may wake
 * to find FILE another receiver's verified copy (it replaced this one, --force) or gone: not this one's to
 * move, nor to put the replaced file back over. That file then stays under its second name, which the next
 * receive names (`leftAside`).
 */
export function undoKeep(
  where: { target: string; copy: string; final: string; old: string | undefined },
  identity: string,
): UndoLeft {
  try {
    return undoUnwrapped(where, identity);
  } catch (error) {
    // A look at a name (lstat) or a move refused outside the steps that name themselves: FILE's directory
    // made unsearchable during a freeze gave the caller a raw "EACCES: permission denied, lstat".
    throw isIvshError(error) ? error : unkeepFailure(error, where);
  }
}

function undoUnwrapped(
  where: { target: string; copy: string; final: string; old: string | undefined },
  identity: string,
): UndoLeft {
  const kept = (path: string) => {
    const now = lstatSync(path, { throwIfNoEntry: false });
    return now !== undefined && `${now.dev}:${now.ino}` === identity;
  };
  if (!kept(where.final)) return {};
  const old = where.old;
  const swapped = old ? exchangeOrGone(old, where.final) : false;
  // One of the two names lost its file since the look: FILE (nothing of this receiver's there to move), or
  // the second name (removed, by its owner or anyone who may write the directory: nothing to put back).
  if (swapped === "gone")
    return kept(where.final) ? undoUnwrapped({ ...where, old: undefined }, identity) : {};
  if (old && swapped) {
    undoExchanged({ ...where, old }, kept);
    return {};
  }
  let moved: ReturnType<typeof movedOrLeft>;
  try {
    // Not over a FILE.partial another receiver made since: that one is writing it. And only this copy:
    // another may have been renamed to FILE since the look above.
    moved = movedOrLeft(where.final, where.copy, kept);
  } catch (error) {
    throw unkeepFailure(error, where);
  }
  if (moved === "replaced") return {};
  if (!moved) throw unkeepFailure(inTheWay(where.copy), where);
  // Linked back, FILE not removed: thrown, it replaced the failure the undo is for (a lost session).
  if (typeof moved === "object") return { final: removalRefusal(moved.error, where.final) };
  // Not over a file put at FILE since the copy left it: that one stays, the old file under its second name.
  return where.old ? putBackUnlessGone({ ...where, old: where.old }) : {};
}

/** The file FILE replaced back to FILE; not there any more (removed since), it is no failure of the undo. */
function putBackUnlessGone(where: { target: string; copy: string; final: string; old: string }): UndoLeft {
  try {
    const moved = movedOrLeft(where.old, where.final);
    // Back at FILE by a link, its second name not removed: it is FILE all the same.
    return typeof moved === "object"
      ? { aside: { name: where.old, why: removalRefusal(moved.error, where.old) } }
      : {};
  } catch (error) {
    if (errnoOf(error) !== "ENOENT") throw putBackFailure(error, where);
    return {};
  }
}

/**
 * FILE and the file it replaced swapped names in one step (RENAME_EXCHANGE): FILE is that file again, and
 * nothing at FILE was removed or replaced by name. A link of FILE to FILE.partial, then an unlink of FILE,
 * then a rename of the old file to FILE, removed or replaced a file put at FILE in between (a user's save).
 * The copy, now under the second name, goes to FILE.partial. A swap that took a file put at FILE after the
 * look above, not this copy, is swapped back; so is one whose copy cannot go to FILE.partial, for the
 * failure to say what it says on the other path.
 */
function undoExchanged(
  where: { target: string; copy: string; final: string; old: string },
  kept: (path: string) => boolean,
): void {
  if (!kept(where.old)) {
    swapBack(where);
    return;
  }
  let moved: boolean | "replaced";
  try {
    moved = moveUnlessTaken(where.old, where.copy, kept);
  } catch (error) {
    swapBack(where);
    throw unkeepFailure(error, where);
  }
  if (moved !== false) return; // "replaced": the name held another file by then, left where it was
  swapBack(where);
  throw unkeepFailure(inTheWay(where.copy), where);
}

/** The undo's swap undone; one of the names emptied since (ENOENT) leaves the other where it is, named. */
function swapBack(where: { old: string; final: string }): void {
  exchangeOrGone(where.old, where.final);
}

/**
 * What stands at `path`, which a hard link found taken: a file a receiver writes (locked, /proc/locks says),
 * one put there by anyone who may write the directory (no lock listed: "another receiver is writing" was
 * said of any file), or not a file at all.
 */
function inTheWay(path: string): string {
  const there = lstatSync(path, { throwIfNoEntry: false });
  if (there?.isDirectory()) return "EISDIR";
  if (!there?.isFile()) return "EEXIST";
  const locked = flockListed(path);
  if (locked) return `another receiver is writing ${path}${lockHolder(path)}`;
  const made = `a file was made at ${path} since the copy left it`;
  // Not "which no receiver holds": /proc/locks leaves out the locks of processes outside its PID namespace.
  return locked === false
    ? `${made}, with no flock on it in /proc/locks, where a receiver in another PID namespace is not listed: it is not this one's to replace`
    : made;
}

/**
 * The final rename failed: `aside`, the file FILE replaced (if any), goes back to `final`; returns where it
 * is if not there. Still at `final` (it was linked aside), only its second name goes. Renamed aside (where
 * links are not supported), it goes back only while `final` is free: a file made there since, taken for it
 * still there, had the old file's only name removed.
 */
export function putBack(aside: string | undefined, final: string): string | undefined {
  if (!aside) return undefined;
  try {
    const there = identityAt(final);
    if (there !== undefined && there === identityAt(aside)) removeFile(aside);
    else if (there !== undefined || moveUnlessTaken(aside, final) !== true) return aside;
    return undefined;
  } catch {
    return aside;
  }
}
