/**
 * The names a received file goes by: where --out lands (a symbolic link is written through), FILE.partial
 * while it is written, and FILE.ivsh-replaced, the file it replaces (--force), kept until the verdict is
 * final. A receiver killed in between leaves that name behind: `leftAside` finds it for the next receive.
 */
import {
  existsSync,
  fchmodSync,
  fchownSync,
  fstatSync,
  lstatSync,
  readlinkSync,
  realpathSync,
  type Stats,
  statSync,
} from "node:fs";
import { basename, dirname } from "node:path";
import { userName } from "../accounts.ts";
import { failure, type IvshError } from "../errors.ts";
import { renameRefusedBy } from "../ffi/file-flags.ts";
import {
  closeFd,
  errnoOf,
  fileStatus,
  O_CREAT,
  O_EXCL,
  O_NOFOLLOW,
  O_NONBLOCK,
  O_RDONLY,
  O_WRONLY,
  openFile,
  SystemCallError,
  tryLockExclusive,
} from "../ffi/index.ts";
import { flockListed } from "../holders.ts";
import { removeFile } from "../remove-file.ts";
import { descriptorNamed, openNamed } from "./io.ts";
import { removableNow, unlinkLeftover } from "./leftover.ts";
import { asideName } from "./name-moves.ts";

/**
 * Where --out TARGET lands. A symbolic link is written through, as cp, dd and the shell's > do: the file
 * it names gets the copy (its FILE.partial beside it, so the rename stays on its file system) and the
 * link stays. One that names nothing is refused, as cp refuses it: a link planted in a shared directory
 * must not make a receiver create a file wherever it points.
 */
export function landingOf(target: string): string {
  if (!lstatSync(target, { throwIfNoEntry: false })?.isSymbolicLink()) return target;
  try {
    return realpathSync(target);
  } catch (error) {
    if (errnoOf(error) !== "ENOENT") throw error;
    throw failure(
      "NotFound",
      `write ${target}`,
      `it is a symbolic link to ${readlinkSync(target)}, which does not exist (ivsh writes through a link, ` +
        "but does not create the file a dangling one names): create that file, remove the link, or choose another --out",
    );
  }
}

/**
 * Opens FILE.partial for writing, created afresh and locked (flock) while this receiver writes it. One
 * held by a live receiver is refused even with --force; one an earlier, finished run left is refused
 * unless --force or empty (`removeStale`), and then unlinked (never opened for writing: a symlink planted
 * there would have the stream written through it) and a new one created that follows no link.
 */
export function openPartial(partial: string, target: string, force: boolean, argument: string): number {
  const claimed = claimPartial(partial, target, force, argument);
  return typeof claimed === "number" ? claimed : claimed.replace();
}

/** A leftover FILE.partial that --force replaces, held (locked) until the stream's first bytes arrive. */
export interface HeldLeftover {
  /** Data arrived: the leftover is unlinked and a new FILE.partial made, as `openPartial` makes one. */
  replace(): number;
  /** None did: the leftover is let go as it was. */
  release(): void;
}

/**
 * `openPartial`, except that a leftover holding bytes that --force replaces is only held here: a receive
 * that then gets no data (timed out, interrupted, killed) leaves it as it was. Held, it is locked, so no
 * other receiver takes it meanwhile. A leftover not locked by this receiver (another user's, a file system
 * without flock) is replaced now, as before.
 */
export function claimPartial(
  partial: string,
  target: string,
  force: boolean,
  argument: string,
): number | HeldLeftover {
  const action = `write ${target}`;
  const busy = () =>
    failure(
      "AlreadyExists",
      action,
      `another receiver is writing ${partial} now (wait for it, or choose another --out)`,
    );
  refuseAppendOnly(dirname(partial), action);
  const stale = lstatSync(partial, { throwIfNoEntry: false });
  const held = stale ? removeStale(partial, stale, force, { action, busy }) : undefined;
  const create = () => createPartial(partial, target, argument, busy);
  if (held === undefined) return create();
  return {
    replace() {
      try {
        // Locked by this receiver, it is still the leftover unless the user moved it: then the name is free.
        if (stillNamed(partial, held)) removeFile(partial);
      } finally {
        closeFd(held);
      }
      return create();
    },
    release: () => closeFd(held),
  };
}

/** A new FILE.partial, made to follow no link and locked; `busy` if another receiver made it first. */
function createPartial(partial: string, target: string, argument: string, busy: () => IvshError): number {
  const action = `write ${target}`;
  // While it is written, a copy that replaces a file is readable by this user only: the file it replaces
  // may be private, and its mode is applied once the copy is whole (`keep`). A new file is 0666 less the
  // umask, as the shell's > and cp make one (0644 had a umask of 002 lose the group's write).
  const mode = existsSync(target) ? 0o600 : 0o666;
  let fd: number;
  try {
    fd = openNamed(partial, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode, action, argument);
  } catch (error) {
    // Created between the look and the open: another receiver's.
    if (error instanceof SystemCallError && error.errnoName === "EEXIST") throw busy();
    throw error;
  }
  // Between the create and the lock it was an empty file nobody held: another receiver may have taken it
  // over (unlinked it, made its own). Only a file still under the name, and locked, is this receiver's.
  let mine = false;
  try {
    mine = lockUnlessUnsupported(fd, partial) !== false && stillNamed(partial, fd);
  } finally {
    if (!mine) closeFd(fd);
  }
  if (!mine) throw busy();
  return fd;
}

/**
 * flock, where the file system has it. One without (ENOLCK: an NFS mount whose lock daemon is not running)
 * has FILE.partial written unguarded, as before it was locked, rather than no --out there at all: another
 * receiver may then take it over (--force only: unlocked, an empty one is no sign of a killed receiver),
 * which `keep` finds (`stillNamed`), and fails, never keeping its bytes. Returns the errno then.
 */
function lockUnlessUnsupported(fd: number, path: string): boolean | string {
  try {
    return tryLockExclusive(fd, path);
  } catch (error) {
    if (NO_LOCKS.includes(errnoOf(error))) return errnoOf(error); // true, and why it is unguarded
    throw error;
  }
}

const NO_LOCKS = ["ENOLCK", "EOPNOTSUPP", "ENOTSUP", "ENOSYS"];

/**
 * A directory flagged append-only (chattr +a) takes new names but lets none go: FILE.partial would be
 * written there whole, then refused its rename to FILE (EPERM, root's too). Found before the stream.
 */
function refuseAppendOnly(directory: string, action: string): void {
  if (renameRefusedBy(directory) !== "append-only") return;
  throw failure(
    "PermissionDenied",
    action,
    `${directory} is append-only (chattr +a; lsattr -d shows it): no file written there may be renamed into ` +
      "place, by root either (clear the flag with chattr -a first, or choose another --out)",
  );
}

/**
 * Unlinks a FILE.partial no receiver holds (or, holding bytes and locked here, returns its descriptor, held
 * for claimPartial): with --force, or if it is empty, as a receiver killed outright
 * (kill -9, the OOM killer, its VM reset) while it waited for its sender leaves it (refusing that would
 * have the user pass --force, which also agrees to replace FILE). Held locked while it is judged and
 * unlinked: a receiver that just created it and has yet to lock it finds it gone (`openPartial`), and
 * two receivers never both take one over. One this user cannot open to lock (another user's that replaces
 * a file, 0600 while written; this user's own, given a replaced file's mode 0000 just before its rename) is
 * taken only with --force, and only if /proc/locks can be read and lists no lock on it: unlinked under a
 * live receiver, the name got a new file that receiver then renamed to FILE as its verified copy. A holder
 * in another PID namespace is not listed there.
 */
function removeStale(
  partial: string,
  stale: Stats,
  force: boolean,
  { action, busy }: { action: string; busy: () => IvshError },
): number | undefined {
  const locked = stale.isFile() ? lockedStale(partial) : undefined;
  if (locked === null) throw busy();
  if (locked === undefined && stale.isFile()) refuseListed(partial, action, busy);
  const fd = locked?.fd;
  let held: number | undefined;
  try {
    if (fd !== undefined && !stillNamed(partial, fd)) throw busy();
    const empty = fd !== undefined && fileStatus(fd, partial).size === 0;
    // Unlocked (no flock there), an empty one is also what a live receiver has while it waits for its sender.
    const why = locked?.unguarded
      ? `its file system has no locks (flock: ${locked.unguarded}) to tell whether a receiver is writing it`
      : "an earlier receive that did not finish left it";
    if (stale.isDirectory())
      throw failure(
        "InvalidArgument",
        action,
        `${partial} is a directory, where the copy is written until verified (remove it, or choose another --out)`,
      );
    if (!force && !(empty && !locked?.unguarded))
      throw failure(
        "AlreadyExists",
        action,
        `${partial} exists: ${why} (remove it, or pass --force to replace it)`,
      );
    // Bytes, locked by this receiver: kept until data arrives (claimPartial), if it can then be removed.
    if (fd !== undefined && !empty && !locked?.unguarded && removableNow(partial, fd)) {
      held = fd;
      return held;
    }
    unlinkLeftover(partial, action);
  } finally {
    if (fd !== undefined && held === undefined) closeFd(fd);
  }
}

/** A partial this user cannot open: busy if /proc/locks lists a lock on it, refused if that cannot be told. */
function refuseListed(partial: string, action: string, busy: () => IvshError): void {
  const listed = flockListed(partial);
  if (listed === true) throw busy();
  if (listed === undefined)
    throw failure(
      "PermissionDenied",
      action,
      `it cannot be told whether a receiver is writing ${partial}: this user may not open it, and /proc/locks ` +
        "cannot be read (if none is, remove it; or choose another --out)",
    );
}

/**
 * A descriptor of the regular file at `path`, locked (or `unguarded`, with the errno: a file system without
 * flock); null if a receiver holds it, undefined if this user cannot open it (read-only is enough for
 * flock, and opens no FIFO's writer nor a symbolic link). Closed on every failure.
 */
function lockedStale(path: string): { fd: number; unguarded?: string } | null | undefined {
  let fd: number;
  try {
    fd = openFile(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch {
    return undefined;
  }
  let locked: boolean | string = false;
  try {
    locked = lockUnlessUnsupported(fd, path);
  } finally {
    if (locked === false) closeFd(fd);
  }
  if (locked === false) return null;
  return locked === true ? { fd } : { fd, unguarded: locked };
}

/** Whether `path` still names the file open at `fd` (no one unlinked or replaced it since). */
export function stillNamed(path: string, fd: number): boolean {
  let named: Stats | undefined;
  try {
    named = lstatSync(path, { throwIfNoEntry: false });
  } catch {
    return true; // not to be looked at now (EACCES, ENOTDIR): what follows meets it and says so
  }
  return named !== undefined && `${named.dev}:${named.ino}` === fileStatus(fd, path).identity;
}

/**
 * A file that replaces another (--force) takes the permissions of the one it replaces (`replaced`: what the
 * keep found at FILE, never what has the name by now), as `cp` does: a private file must not become
 * readable by others because it was received again. Applied to the whole, verified copy just before it takes
 * the name, so a copy that fails stays writable for the next try.
 * Through its descriptor `fd`, never its name: one swapped for a link (by anyone who may write the
 * directory) would have root give another file the owner and mode. A file system that refuses the mode
 * (vfat mounted umask=000 gives every file to root, and only an owner may chmod; NFS) leaves the copy
 * with the one it was made with, 0600 (private), as a refused chown leaves its owner: the verified
 * transfer is not lost over it.
 */
export function takeModeOf(replaced: Stats, fd: number): void {
  takeOwnerOf(replaced, fd);
  try {
    fchmodSync(fd, replaced.mode & 0o777);
  } catch (error) {
    if (!MODE_REFUSED.includes(errnoOf(error))) throw error;
  }
}

/** What chmod(2) says where the file system, not the file, refuses the mode. */
const MODE_REFUSED = ["EPERM", "EACCES", "EINVAL", "ENOTSUP", "EOPNOTSUPP", "EROFS"];

/**
 * Its owner and group too, as `cp` over a file keeps them (it writes into that file): root receiving into
 * a user's file must not leave it root's. As far as this user may give them: root any, another user only a
 * group it is in. chown(2) refuses the rest (EPERM; a file system without owners, EINVAL or ENOTSUP), and
 * the copy then stays this user's, as a file it made: that costs no verified transfer. Before the mode,
 * which a chown may change.
 */
function takeOwnerOf(replaced: Stats, fd: number): void {
  const copy = fstatSync(fd);
  if (copy.uid === replaced.uid && copy.gid === replaced.gid) return;
  for (const uid of [replaced.uid, -1])
    try {
      fchownSync(fd, uid, replaced.gid);
      return;
    } catch {
      // Not this owner, or not this group: the next try keeps this user, or the copy stays as made.
    }
}

/**
 * In a sticky directory (/tmp) only a file's owner, the directory's owner or root may rename it, so --force
 * could not replace another user's file there: found only once the whole stream arrived, that would cost
 * the transfer, so it is refused before anything is received.
 */
export function refuseUnreplaceable(path: string, target: string): void {
  // Kept under a second name until the verdict (setAside: the first one free): one too long to exist would
  // be met at the end.
  let attempt = 0;
  while (named(asideName(path, attempt))) attempt++;
  if (tooLong(asideName(path, attempt)))
    throw failure(
      "InvalidArgument",
      `replace ${target}`,
      `the name the file it replaces is kept under until the new copy is verified, ${basename(asideName(path, attempt))}, is too long for its file system (ENAMETOOLONG): remove ${path} first, or choose a shorter --out`,
    );
  refuseFlagged(path, target);
  const uid = process.getuid?.();
  if (uid === undefined || uid === 0) return;
  const directory = dirname(path);
  const parent = statSync(directory);
  if ((parent.mode & S_ISVTX) === 0 || parent.uid === uid) return;
  const owner = statSync(path).uid;
  if (owner === uid) return;
  throw failure(
    "PermissionDenied",
    `replace ${target}`,
    `${path} belongs to ${userName(owner)} and ${directory} is sticky (as /tmp is): only its owner may ` +
      "replace it there (choose another --out, or have its owner remove it)",
  );
}

const S_ISVTX = 0o1000;

/** An immutable or append-only file cannot be replaced, by root either: found before, not after, the stream. */
function refuseFlagged(path: string, target: string): void {
  const flag = renameRefusedBy(path);
  if (flag === undefined) return;
  throw failure(
    "PermissionDenied",
    `replace ${target}`,
    `${path} is ${flag} (chattr +${flag === "immutable" ? "i" : "a"}; lsattr shows it): no one may replace it, ` +
      `root included (clear the flag with chattr -${flag === "immutable" ? "i" : "a"} first, or choose another --out)`,
  );
}

/**
 * Files already at the names `setAside` uses beside --out's landing: left by a receiver killed while it
 * replaced FILE (each holds the file that was replaced), or the user's own; never removed either way.
 */
export function leftAside(target: string): string[] {
  if (target === "-" || descriptorNamed(target) !== undefined) return [];
  let path: string;
  try {
    path = landingOf(target);
  } catch {
    return []; // the receive itself says what is wrong with the name
  }
  const found: string[] = [];
  for (let attempt = 0; named(asideName(path, attempt)); attempt++) found.push(asideName(path, attempt));
  return found;
}

/** Whether a file has the name `path`: none can if it is too long for its file system. */
function named(path: string): boolean {
  return !tooLong(path) && lstatSync(path, { throwIfNoEntry: false }) !== undefined;
}

/** Whether `path` is too long for its file system to give a file (ENAMETOOLONG). */
function tooLong(path: string): boolean {
  try {
    lstatSync(path, { throwIfNoEntry: false });
    return false;
  } catch (error) {
    if (errnoOf(error) === "ENAMETOOLONG") return true;
    throw error;
  }
}
