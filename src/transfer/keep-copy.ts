/**
 * A receiver's keep: its verified copy, FILE.partial, takes FILE's name; with --force the file found at FILE
 * takes the copy's owner and mode and is set aside first (FILE.ivsh-replaced), for the keep to be undone
 * (./undo-keep.ts). What is said when a step fails: ./keep-failures.ts.
 */
import { rmSync, type Stats, statSync } from "node:fs";
import { errnoOf, fileStatus } from "../ffi/index.ts";
import { keepFailure, vanishedFailure } from "./keep-failures.ts";
import { identityAt, moveUnlessTaken, replaceIfAside, setAside } from "./name-moves.ts";
import { stillNamed, takeModeOf } from "./out-names.ts";
import { putBack } from "./undo-keep.ts";

/** The names of a keep: what the user asked for, the copy written (FILE.partial), the name it takes. */
export type KeepNames = { target: string; copy: string; final: string };

/**
 * `names.copy`, open at `fd`, renamed to `names.final`; `replacing` (--force): over the regular file found
 * there, set aside first. Returns that file's second name, if any (kept until the verdict), and the copy's
 * "dev:ino". Throws, with nothing set aside, if the copy did not take the name.
 */
export function keepCopy(
  names: KeepNames,
  fd: number,
  replacing: boolean,
): { replaced: string | undefined; identity: string } {
  const where = { target: names.target, copy: names.copy };
  const copy = fileStatus(fd, names.copy).identity;
  const found = foundAt(names, copy, replacing);
  // A name another receiver took over, or anyone swapped (for a link to another file, in a shared
  // directory), is not the copy: never moved to TARGET; its owner and mode go through the descriptor.
  if (!stillNamed(names.copy, fd)) throw vanishedFailure(names.copy, names.target);
  let replaced: string | undefined;
  try {
    if (found && replacing) takeModeOf(names.final, fd);
    if (found && replacing) replaced = setAside(names.final);
  } catch (error) {
    throw keepFailure(error, `setting aside ${names.final}, the file it replaces,`, where);
  }
  moveCopy(names, fd, replacing, replaced);
  // A rename between two names of one file (FILE hard-linked to FILE.partial) does nothing: FILE.partial
  // stayed, a stale partial the next receive refused. It goes now, as the rename would have taken it.
  if (identityAt(names.copy) === copy) rmSync(names.copy, { force: true });
  // Not this copy at TARGET now: swapped after the check above (by anyone who may write the directory),
  // the name moved was not it; or replaced since (this receiver frozen, another one with --force). No
  // success claimed, and nothing moved back over TARGET: the file it replaced stays aside, named.
  if (!stillNamed(names.final, fd)) throw vanishedFailure(names.copy, names.target, replaced);
  // Looked at again, as sink.ts did: the race tests stop at this last look (strace counts its statx).
  return { replaced, identity: fileStatus(fd, names.copy).identity };
}

/**
 * What is at FILE now, if anything but this copy (`copy`, "dev:ino"): FILE may be this copy already
 * (hard-linked to FILE.partial meanwhile), with nothing to set aside or refuse; not a symbolic link to it
 * (stat(2) follows one to the copy): that link is a file to replace, or refuse.
 */
function foundAt(names: KeepNames, copy: string, replacing: boolean): Stats | undefined {
  const where = { target: names.target, copy: names.copy };
  let found: Stats | undefined;
  try {
    found = statSync(names.final, { throwIfNoEntry: false });
  } catch (error) {
    throw keepFailure(error, `looking at ${names.final}`, where);
  }
  if (found === undefined || (`${found.dev}:${found.ino}` === copy && identityAt(names.final) === copy))
    return undefined;
  // Made meanwhile: a directory (or a FIFO...) is not what --force agreed to replace, nor ours to move; a
  // file, without --force, is someone's.
  if (!found.isFile() || !replacing)
    throw keepFailure(undefined, "", {
      ...where,
      inTheWay: names.final,
      kind: found.isFile() ? "file" : "other",
    });
  return found;
}

/** The copy to FILE: over it only while it is the file set aside (not renamed aside, nor replaced since the look). */
function moveCopy(names: KeepNames, fd: number, replacing: boolean, replaced: string | undefined): void {
  const where = { target: names.target, copy: names.copy };
  let moved = true;
  try {
    const over = replaced !== undefined && replaceIfAside(names.copy, names.final, replaced);
    moved = over || moveUnlessTaken(names.copy, names.final) === true;
  } catch (error) {
    const old = putBack(replaced, names.final);
    if (errnoOf(error) === "ENOENT") throw vanishedFailure(names.copy, names.target);
    throw keepFailure(error, `renaming it to ${names.final}`, { ...where, old });
  }
  if (!moved && !stillNamed(names.final, fd)) {
    const old = putBack(replaced, names.final);
    const kind = statSync(names.final, { throwIfNoEntry: false })?.isFile() === false ? "other" : "file";
    throw keepFailure(undefined, "", { ...where, inTheWay: names.final, kind, forced: replacing, old });
  }
}
