/**
 * A receiver's keep: its verified copy, FILE.partial, takes FILE's name; with --force it takes the owner and
 * mode of the file found at FILE, which is set aside first (FILE.ivsh-replaced) for the keep to be undone
 * (./undo-keep.ts). What is said when a step fails: ./keep-failures.ts.
 *
 * The descriptors a keep holds, and who closes each:
 *
 * | descriptor                        | opened by           | closed by, on every outcome                  |
 * | --------------------------------- | ------------------- | -------------------------------------------- |
 * | the copy's (FILE.partial)         | openPartial (Sink)  | Sink.keep if the keep threw; else at the     |
 * |                                   |                     | verdict: Sink.settle, or Sink.abandon (an    |
 * |                                   |                     | unkeep leaves it open for that)              |
 * | the look's (FILE, O_PATH)         | foundAt             | foundAt: nothing there, the copy itself, a   |
 * |                                   |                     | refusal or a failure; keepCopy: nothing set  |
 * |                                   |                     | aside; heldAside, once the aside's is open   |
 * |                                   |                     | (else it stands in for the aside's)          |
 * | the aside's (FILE.ivsh-replaced,  | heldAside           | heldAside if not the file looked at;         |
 * | O_PATH)                           |                     | keepCopy if the move (or its check) threw;   |
 * |                                   |                     | else Sink.settle (before the removal) or     |
 * |                                   |                     | Sink.unkeep (whatever the undo did)          |
 */
import { fstatSync, type Stats, statSync } from "node:fs";
import { closeFd, errnoOf, fileStatus, O_NOFOLLOW, O_PATH, openFile } from "../ffi/index.ts";
import { removeFile } from "../remove-file.ts";
import { keepFailure, vanishedFailure } from "./keep-failures.ts";
import { identityAt, movedOrLeft, type OldNameLeft, replaceIfAside, setAside } from "./name-moves.ts";
import { stillNamed, takeModeOf } from "./out-names.ts";
import { putBack } from "./undo-keep.ts";

/** The names of a keep: what the user asked for, the copy written (FILE.partial), the name it takes. */
export type KeepNames = { target: string; copy: string; final: string };

/**
 * The file found at FILE, set aside (--force): its second name, its "dev:ino", and a descriptor (O_PATH)
 * held until the verdict; `left`: FILE.partial, a third name of it after the swap, whose removal was
 * refused (the copy kept all the same). `settle` removes that name only while it is still that file: one put there since
 * (by anyone who may write the directory) is not what --force agreed to replace. Held, its inode number is
 * never given to a file made there after it was removed (ext4 gives a freed one at once).
 */
export type SetAside = { name: string; identity: string; fd: number; left?: string };

/** A name the keep could not remove: the old file's after the swap, or (`copy`) the copy's after its link. */
type Left = OldNameLeft & { copy: boolean };

/**
 * `names.copy`, open at `fd`, renamed to `names.final`; `replacing` (--force): over the regular file found
 * there, set aside first. Returns that file (`SetAside`, the caller closes its descriptor), if any, the
 * copy's "dev:ino", and `copyLeft`: FILE.partial, still a name of the copy where it was moved by a link and
 * the old name's removal refused (the copy kept all the same, for `settle` to retry). Throws, with nothing left open, if the copy did not take the name (or is not at it
 * now): the file set aside is back at FILE, or the error names where it stays.
 */
export function keepCopy(
  names: KeepNames,
  fd: number,
  replacing: boolean,
): { replaced: SetAside | undefined; identity: string; copyLeft: string | undefined } {
  const copy = fileStatus(fd, names.copy).identity;
  const found = foundAt(names, copy, replacing);
  let replaced: string | undefined;
  try {
    // A name another receiver took over, or anyone swapped (for a link to another file, in a shared
    // directory), is not the copy: never moved to TARGET; its owner and mode go through the descriptor.
    if (!stillNamed(names.copy, fd)) throw vanishedFailure(names.copy, names.target);
    replaced = found ? setAsideFound(names, fd, found) : undefined; // found: only with --force
  } finally {
    if (found && replaced === undefined) closeFd(found.fd);
  }
  const aside = found && replaced !== undefined ? heldAside(found, replaced) : undefined;
  try {
    const { identity, left } = moved(names, fd, copy, replaced, replacing);
    const old = aside && left && !left.copy ? { ...aside, left: left.name } : aside;
    return { replaced: old, identity, copyLeft: left?.copy ? left.name : undefined };
  } catch (error) {
    if (aside) closeFd(aside.fd);
    throw error;
  }
}

/**
 * The file set aside, held by its second name (O_PATH) in place of the look's descriptor, which holds the
 * name FILE: the copy's move replaces that, and NFS keeps a replaced name that is open, as a .nfsXXXX file
 * in the directory, until it is closed. The look's descriptor stays if the second name is not that file.
 */
function heldAside(found: Found, name: string): SetAside {
  let fd: number | undefined;
  try {
    fd = openFile(name, O_PATH | O_NOFOLLOW);
    const { dev, ino } = fstatSync(fd);
    if (`${dev}:${ino}` === found.identity) {
      closeFd(found.fd);
      return { name, identity: found.identity, fd };
    }
  } catch {
    // Not to be opened or looked at now: the look's descriptor holds the file.
  }
  if (fd !== undefined) closeFd(fd);
  return { name, identity: found.identity, fd: found.fd };
}

/** The copy moved to FILE (`moveCopy`), and checked there: its "dev:ino"; a name left, if any. */
function moved(
  names: KeepNames,
  fd: number,
  copy: string,
  replaced: string | undefined,
  replacing: boolean,
): { identity: string; left: Left | undefined } {
  const left = moveCopy(names, fd, replacing, replaced);
  // A rename between two names of one file (FILE hard-linked to FILE.partial) does nothing: FILE.partial
  // stayed, a stale partial the next receive refused. It goes now, as the rename would have taken it
  // (not if its removal after a link was just refused: `left`, no failure of the keep).
  if (!left?.copy && identityAt(names.copy) === copy) removeFile(names.copy);
  // Not this copy at TARGET now: swapped after the check above (by anyone who may write the directory),
  // the name moved was not it; or replaced since (this receiver frozen, another one with --force). No
  // success claimed, and nothing moved back over TARGET: the file it replaced stays aside, named.
  if (!stillNamed(names.final, fd)) throw vanishedFailure(names.copy, names.target, replaced);
  // Looked at again, as sink.ts did: the race tests stop at this last look (strace counts its statx).
  return { identity: fileStatus(fd, names.copy).identity, left };
}

/**
 * What the keep found at FILE: what the name leads to, and the name's own "dev:ino" (a link's, not its
 * file's), held open (O_PATH) until the set-aside: its inode number, freed (FILE removed), may be given to
 * a file made next in the directory (ext4 does at once), which the set-aside would then take for it.
 */
type Found = { stats: Stats; identity: string; fd: number };

/**
 * What is at FILE now, if anything but this copy (`copy`, "dev:ino"): FILE may be this copy already
 * (hard-linked to FILE.partial meanwhile), with nothing to set aside or refuse; not a symbolic link to it
 * (stat(2) follows one to the copy): that link is a file to replace, or refuse.
 */
function foundAt(names: KeepNames, copy: string, replacing: boolean): Found | undefined {
  const where = { target: names.target, copy: names.copy };
  let held: number;
  try {
    held = openFile(names.final, O_PATH | O_NOFOLLOW);
  } catch (error) {
    if (errnoOf(error) === "ENOENT") return undefined;
    throw keepFailure(error, `looking at ${names.final}`, where);
  }
  try {
    const found = lookThrough(names, held);
    if (found === undefined || found.identity === copy) return void closeFd(held);
    // Made meanwhile: a directory (or a FIFO...) is not what --force agreed to replace, nor ours to move;
    // a file, without --force, is someone's.
    const kind = found.stats.isFile() ? "file" : "other";
    if (kind === "other" || !replacing)
      throw keepFailure(undefined, "", { ...where, inTheWay: names.final, kind });
    return found;
  } catch (error) {
    closeFd(held);
    throw error;
  }
}

/** The name held at `fd` (one look where it is no link, as a stat(2) was), and what a link leads to. */
function lookThrough(names: KeepNames, fd: number): Found | undefined {
  let named: Stats;
  let stats: Stats | undefined;
  try {
    named = fstatSync(fd);
    stats = named.isSymbolicLink() ? statSync(names.final, { throwIfNoEntry: false }) : named;
  } catch (error) {
    throw keepFailure(error, `looking at ${names.final}`, { target: names.target, copy: names.copy });
  }
  return stats && { stats, identity: `${named.dev}:${named.ino}`, fd };
}

/**
 * The copy given the owner and mode of the file found at FILE, which is set aside (--force). Only that file:
 * one put at FILE since the look (by anyone who may write the directory) is not what --force agreed to
 * replace, and a directory has no hard link (the set-aside then renames it): put back, and refused.
 * Returns its second name; none if FILE has no file to set aside now.
 */
function setAsideFound(names: KeepNames, fd: number, found: Found): string | undefined {
  const where = { target: names.target, copy: names.copy };
  let replaced: string;
  try {
    // The file looked at: one put at FILE since is refused below, and must not have given the copy (left
    // as FILE.partial then) its owner and mode first.
    takeModeOf(found.stats, fd);
    replaced = setAside(names.final, found.identity);
  } catch (error) {
    // FILE removed since the look: nothing to replace (and its directory removed, the copy's move says so).
    if (errnoOf(error) === "ENOENT") return undefined;
    throw keepFailure(error, `setting aside ${names.final}, the file it replaces,`, where);
  }
  const taken = identityAt(replaced);
  if (taken === found.identity) return replaced;
  // FILE made this copy (a hard link to FILE.partial) since the look: nothing to replace, no second name.
  if (taken === fileStatus(fd, names.copy).identity) return void removeFile(replaced);
  const old = putBack(replaced, names.final);
  const kind = kindAt(names.final);
  throw keepFailure(undefined, "", { ...where, inTheWay: names.final, kind, forced: true, old });
}

/**
 * The copy to FILE: over it only while it is the file set aside (not renamed aside, nor replaced since the
 * look). Returns the name left at FILE.partial, if its removal after the swap (the old file's) or after
 * the link (the copy's, where renameat2 has no flags) was refused.
 */
function moveCopy(
  names: KeepNames,
  fd: number,
  replacing: boolean,
  replaced: string | undefined,
): Left | undefined {
  const where = { target: names.target, copy: names.copy };
  let moved = true;
  let left: Left | undefined;
  try {
    const over = replaced !== undefined && replaceIfAside(names.copy, names.final, replaced);
    const plain = over === false ? movedOrLeft(names.copy, names.final) : over;
    if (typeof plain === "object") left = { ...plain, copy: over === false };
    moved = plain !== false && plain !== "replaced";
  } catch (error) {
    const old = putBack(replaced, names.final);
    if (errnoOf(error) === "ENOENT") throw vanishedFailure(names.copy, names.target, old);
    throw keepFailure(error, `renaming it to ${names.final}`, { ...where, old });
  }
  if (!moved && !stillNamed(names.final, fd)) {
    const old = putBack(replaced, names.final);
    const kind = kindAt(names.final);
    throw keepFailure(undefined, "", { ...where, inTheWay: names.final, kind, forced: replacing, old });
  }
  return left;
}

/** What stands at `path` for a refusal to name: a file, or none (since removed) taken for one; else other. */
function kindAt(path: string): "file" | "other" {
  return statSync(path, { throwIfNoEntry: false })?.isFile() === false ? "other" : "file";
}
