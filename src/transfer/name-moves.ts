/**
 * Moving a file between the names a received file goes by without replacing one someone else made: the
 * verified copy to FILE (or back to FILE.partial), and the file it replaces (--force) to a second name
 * of its own, FILE.ivsh-replaced, kept until the verdict.
 */
import { linkSync, lstatSync } from "node:fs";
import { removalRefusal } from "../ffi/file-flags.ts";
import { errnoOf, renameFile } from "../ffi/index.ts";
import { exchangeNames, renameNoReplace } from "../ffi/rename.ts";
import { removeFile } from "../remove-file.ts";

/**
 * A second name for `path`, the file `looked` ("dev:ino") found there, to restore it from: a hard link; a
 * rename where links are not supported, or where the link's name is not known as that file (overlayfs).
 * The name is one no file has: a file already called FILE.ivsh-replaced is someone's, never removed. The
 * rename too refuses a taken name (RENAME_NOREPLACE): one put there after the look was replaced, then
 * removed as the old file once settled. Only where renameat2 cannot tell, a plain rename (that window
 * stays there).
 */
export function setAside(path: string, looked: string): string {
  for (let attempt = 0; ; attempt++) {
    const aside = asideName(path, attempt);
    if (lstatSync(aside, { throwIfNoEntry: false })) continue;
    const linked = linkAside(path, aside, looked);
    if (linked === "taken") continue; // made meanwhile: not ours either
    if (linked) return aside;
    const renamed = renameNoReplace(path, aside);
    if (renamed === "taken") continue;
    if (!renamed) renameFile(path, aside);
    return aside;
  }
}

/**
 * `aside` made a hard link to `path`: false, nothing made, if it cannot be (for the caller to rename), or
 * if its name is not known as the file looked at while `path` still is. overlayfs (its layers on two file
 * systems, no index) gives a new name of a file copied up from its lower layer a "dev:ino" of its own: the
 * keep took it for a file put at FILE meanwhile and refused every --force over such a file. Renamed, a
 * name keeps its "dev:ino" there. (A file put at `path` between this look and that rename is refused by
 * the caller; the old file, its link removed, is then gone as the save's rename over it would have had it.)
 * A link to a file put at `path` before it was made stays: the caller finds it not the file looked at.
 */
function linkAside(path: string, aside: string, looked: string): boolean | "taken" {
  try {
    linkSync(path, aside);
  } catch (error) {
    return errnoOf(error) === "EEXIST" ? "taken" : false;
  }
  if (identityAt(aside) === looked || identityAt(path) !== looked) return true;
  removeFile(aside);
  return false;
}

/** What a file system without hard links (vfat, some FUSE) says to a `link`. */
const NO_LINKS = ["EPERM", "ENOTSUP", "EOPNOTSUPP", "EMLINK", "ENOSYS"];

/**
 * Gives `from` the name `to` unless a file has it: false, with nothing changed, if one does. In one step
 * (renameat2's RENAME_NOREPLACE; where the file system has it not, a hard link, which fails on a taken
 * name too): a look, then a rename, replaced a file made at `to` in between. Where neither is supported
 * (a FUSE file system with neither), a plain rename: that window stays open there. "replaced", with
 * nothing changed, if what it moved is not what `meant` wants (the name swapped since the caller looked).
 * The old name's removal after a link refused is thrown (`movedOrLeft` returns it).
 */
export function moveUnlessTaken(
  from: string,
  to: string,
  meant: (path: string) => boolean = () => true,
): boolean | "replaced" {
  const moved = movedOrLeft(from, to, meant);
  if (typeof moved === "object") throw moved.error;
  return moved;
}

/**
 * `moveUnlessTaken`, but `OldNameLeft` if the move was made by a hard link whose old name `from` could not
 * be removed (its directory append-only): `to` is the file all the same, `from` a second name of it.
 */
export function movedOrLeft(
  from: string,
  to: string,
  meant: (path: string) => boolean = () => true,
): boolean | "replaced" | OldNameLeft {
  const renamed = renameNoReplace(from, to);
  if (renamed === "taken") return false;
  if (renamed) {
    if (meant(to)) return true;
    // Back, unless a file took `from` meanwhile: then it stays at `to`, still named, not lost.
    renameNoReplace(to, from);
    return "replaced";
  }
  return linkUnlessTaken(from, to, meant);
}

/** `moveUnlessTaken` where renameat2 cannot tell: a hard link, then the old name removed. */
function linkUnlessTaken(
  from: string,
  to: string,
  meant: (path: string) => boolean,
): boolean | "replaced" | OldNameLeft {
  try {
    linkSync(from, to);
  } catch (error) {
    if (errnoOf(error) === "EEXIST") return false;
    if (!NO_LINKS.includes(errnoOf(error))) throw error;
    renameFile(from, to);
    if (meant(to)) return true;
    renameFile(to, from);
    return "replaced";
  }
  // Not the file meant: the name just made goes. Else the old one, which an append-only directory keeps
  // (a link may be made there, no name removed): the move stands, `from` left a second name of the file.
  if (!meant(to)) {
    removeFile(to);
    return "replaced";
  }
  return removedOrLeft(from);
}

/**
 * The swap was done, `to` is the copy, but the name `from` (the old file's now) could not be removed: why.
 * The keep stands; `from` is a third name of the old file, beside its second one, for the user to remove.
 * Of a move by a link (`movedOrLeft`): `from` is a second name of the file moved.
 */
export type OldNameLeft = { name: string; error: unknown };

/**
 * `from` renamed over `to` only while `to` is the file `aside` also names (set aside to restore it from):
 * false, nothing changed, if `to` is another file or none. In one step where renameat2 has RENAME_EXCHANGE:
 * swapped, then the name `from` (the old file's now, which `aside` keeps) removed; swapped back if what it
 * took was not that file (put at `to` after the look). Elsewhere a rename after the look: a window stays.
 * `OldNameLeft` if that removal failed (the directory made append-only since the swap): moved all the same.
 */
export function replaceIfAside(from: string, to: string, aside: string): boolean | OldNameLeft {
  const old = identityAt(aside);
  if (old === undefined || identityAt(to) !== old) return false;
  const swapped = exchangeOrGone(from, to);
  if (swapped === "gone") return false;
  if (!swapped) {
    renameFile(from, to);
    return true;
  }
  if (identityAt(from) === old) return removedOrLeft(from);
  if (exchangeOrGone(from, to) !== "gone") return false;
  // A name emptied since the swap (by anyone who may write the directory; another receiver's --force takes
  // an unlocked FILE.partial for stale): `from` leaves the copy at `to`, kept, as moved; `to` (the copy
  // removed) has the file it took go back there. Never "nothing kept" said of a copy left at FILE.
  if (identityAt(from) === undefined) return true;
  moveUnlessTaken(from, to);
  return false;
}

/**
 * The old file's name `from` removed after the swap. Refused, it is not undone: the copy is at FILE, and
 * the old file has two names (a swap back, in a directory that refuses changes, would fail too). Before,
 * the refusal was thrown as the keep's, which said the copy was at FILE.partial, the old file's name.
 */
function removedOrLeft(from: string): true | OldNameLeft {
  try {
    removeFile(from);
    return true;
  } catch (error) {
    return { name: from, error };
  }
}

/**
 * `exchangeNames`, "gone" if either name has no file (ENOENT): FILE removed since the look is no file set
 * aside to replace, and FILE.partial removed is for the caller's rename to find and say; in an undo, FILE
 * removed is no copy to move back, and its second name removed no file to put back.
 */
export function exchangeOrGone(a: string, b: string): boolean | "gone" {
  try {
    return exchangeNames(a, b);
  } catch (error) {
    if (errnoOf(error) === "ENOENT") return "gone";
    throw error;
  }
}

/** The names `setAside` gives the file it replaces, first to last. */
export function asideName(path: string, attempt: number): string {
  return `${path}.ivsh-replaced${attempt === 0 ? "" : `.${attempt}`}`;
}

/**
 * `path` removed while it is the file `identity` ("dev:ino"); one put under that name since is someone's.
 * Why it stays, if its removal was refused (unlink's errno, and its directory's flag).
 */
export function removeIfStill(path: string, identity: string): string | undefined {
  try {
    if (identityAt(path) === identity) removeFile(path);
    return undefined;
  } catch (error) {
    return removalRefusal(error, path);
  }
}

/** The "dev:ino" of the file named `path` (not followed), if one is there and may be looked at. */
export function identityAt(path: string): string | undefined {
  try {
    const named = lstatSync(path, { throwIfNoEntry: false });
    return named && `${named.dev}:${named.ino}`;
  } catch {
    return undefined;
  }
}
