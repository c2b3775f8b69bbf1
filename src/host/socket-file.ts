/**
 * The arbiter's socket files (the socket and its hand-over socket), taken only if free and removed only
 * while still its own.
 *
 * A socket is bound at a private name beside its path, given its mode, and then linked to the path. The
 * link fails if anything took the path since the start found it free (another arbiter started at the same
 * moment): the path is never replaced, and never shows a socket bound but not yet accepting, which a start
 * probing it would take for a dead arbiter's. Bun's listener removes the file at the name it was bound to
 * when it stops, whoever's file that is by then: that is the private name, gone by then.
 *
 * An arbiter's own file may be removed while it runs (by hand, by a cleanup of /tmp) and another arbiter's
 * be at the path by the time it stops: it removes the path only if the file there is still the one it
 * linked, known by device, inode and birth time (an inode number alone is reused by the next file made).
 */
import { randomBytes } from "node:crypto";
import { chmodSync, linkSync, lstatSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { type ErrorCodeName, failure, isIvshError } from "../errors.ts";
import { removalRefusal } from "../ffi/file-flags.ts";
import { errnoOf, SystemCallError } from "../ffi/index.ts";
import { socketListener } from "../holders.ts";
import { log } from "../log.ts";
import { removeFile } from "../remove-file.ts";

const PRIVATE_MARK = ".~";

/**
 * " (pid N, COMMAND)" for the arbiter listening at `path`: the kernel lists its socket under the private
 * name it was bound at, not `path`.
 */
export function arbiterListening(path: string): string {
  const privateName = (name: string) =>
    name.startsWith(path + PRIVATE_MARK) &&
    /^[0-9a-f]{6}$/.test(name.slice(path.length + PRIVATE_MARK.length));
  return socketListener(path, (name) => name === path || privateName(name));
}

/** A private name older than this is no start's in progress: each holds its own for microseconds. */
const LEFTOVER_AGE_MS = 60_000;

/**
 * Removes the private names (`SOCKET.~XXXXXX`) beside `socketPath` that a start killed between its bind
 * and its link left behind: sockets bound by nobody (not in /proc/net/unix) and made over a minute ago.
 * A name drawn again while its file is there is refused (EADDRINUSE), so none is bound meanwhile; where
 * /proc/net/unix cannot be read, nothing is removed, nor is one this user may not remove.
 */
export function removeLeftoverPrivateNames(socketPath: string): void {
  const [directory, prefix] = [dirname(socketPath), `${basename(socketPath)}${PRIVATE_MARK}`];
  const names = listed(directory).filter(
    (name) => name.startsWith(prefix) && /^[0-9a-f]{6}$/.test(name.slice(prefix.length)),
  );
  if (names.length === 0) return;
  const bound = boundSocketNames();
  for (const name of names) {
    const path = join(directory, name);
    const found = lstatSync(path, { throwIfNoEntry: false });
    if (!bound || bound.has(path) || !found?.isSocket() || Date.now() - found.mtimeMs < LEFTOVER_AGE_MS)
      continue;
    try {
      removeFile(path);
    } catch {
      // Another user's, in a sticky directory (/tmp): not this start's to remove, and its random name is
      // in nobody's way.
    }
  }
}

/** A directory's names; none if this user may not list it (one it may only write to and search serves). */
function listed(directory: string): string[] {
  try {
    return readdirSync(directory);
  } catch {
    return [];
  }
}

/** The names Unix sockets of this network namespace are bound at, or undefined if they cannot be read. */
function boundSocketNames(): Set<string> | undefined {
  try {
    // "Num RefCount Protocol Flags Type St Inode Path": the path is the rest of the line (it may hold spaces).
    const entries = readFileSync("/proc/net/unix", "utf8").split("\n").slice(1);
    return new Set(entries.map((entry) => /^\s*(?:\S+\s+){7}(.*)$/.exec(entry)?.[1] ?? ""));
  } catch {
    return undefined;
  }
}

/** What the file at `path` is now, or undefined if there is none. */
export function fileIdentity(path: string): string | undefined {
  const found = lstatSync(path, { bigint: true, throwIfNoEntry: false });
  return found && `${found.dev}:${found.ino}:${found.birthtimeNs}`;
}

/** Whether `identity` is still at `path`; one this user may no longer look at (its directory's mode changed) is not known to be gone. */
export function stillPublished(path: string, identity: string): boolean {
  try {
    return fileIdentity(path) === identity;
  } catch (error) {
    return errnoOf(error) === "EACCES";
  }
}

/**
 * Removes `path` if the file there is still `identity`; another file there by now is left alone. (Between
 * the look and the removal another could still take its place: that window is microseconds, not a run.)
 */
export function removeIfStill(path: string, identity: string | undefined): void {
  if (identity !== undefined && fileIdentity(path) === identity) removeFile(path);
}

/**
 * `removeIfStill` as the arbiter stops: a socket file it may not remove (its directory made append-only
 * or immutable while it ran) is said, with unlink's errno and the flag, and the rest of the stop goes on
 * (the journal closed, the region unmapped) rather than ending on that error.
 */
export function removeAtStop(path: string, identity: string | undefined): void {
  try {
    removeIfStill(path, identity);
  } catch (error) {
    log.warn(
      `could not remove the socket ${path} as the arbiter stopped (${removalRefusal(error, path)}): ` +
        "it is left, dead; remove it yourself, or the next start on it removes it",
    );
  }
}

/**
 * `bind` at a private name beside `socketPath`: `SOCKET.~XXXXXX`, no longer than the '.handover' name
 * checkSocketPath allowed for. A name in use (another start's, drawn at random too) is drawn again.
 */
export function bindPrivately<T>(socketPath: string, bind: (privatePath: string) => T): [T, string] {
  for (let attempt = 1; ; attempt++) {
    const privatePath = `${socketPath}${PRIVATE_MARK}${randomBytes(3).toString("hex")}`;
    try {
      return [bind(privatePath), privatePath];
    } catch (error) {
      if (errnoOf(error) !== "EADDRINUSE" || attempt >= 5) throw socketFileFailure(error, socketPath);
    }
  }
}

/** Why a socket file could not be made in a directory (its errno), and what the operator does about it. */
const SOCKET_FILE_FAILURES: Record<
  string,
  { code: ErrorCodeName; why: (directory: string, errno: string) => string }
> = {
  ENOSPC: {
    code: "NoSpace",
    why: (directory) =>
      `the file system of ${directory} has no room for another file (ENOSPC: no space or no inodes left; ` +
      `see df -h ${directory} and df -i ${directory}): free some there, or choose another --socket`,
  },
  EDQUOT: {
    code: "NoSpace",
    why: (directory) =>
      `this user's disk quota on the file system of ${directory} is used up (EDQUOT): free some, or choose another --socket`,
  },
  EROFS: {
    code: "PermissionDenied",
    why: (directory) => `${directory} is on a read-only file system (EROFS): choose another --socket`,
  },
  EACCES: {
    code: "PermissionDenied",
    why: (directory, errno) =>
      `this user (uid ${process.geteuid?.()}) may not make a socket file in ${directory} (${errno}): choose another --socket, or run as a user who may`,
  },
  ENOENT: {
    code: "InvalidArgument",
    why: (directory, errno) =>
      `${directory} takes no socket files (${errno}: a directory of /proc or /sys, or one removed meanwhile): choose another --socket`,
  },
};

/**
 * A failed bind or link of the socket's file, said for the operator: which --socket, why, what to do. Not
 * the bare system call on the private name (`bind /run/ivsh/ivsh.sock.~3f2a1c: ENOSPC`), a name the
 * operator never gave and that is gone by the time they read it.
 */
function socketFileFailure(error: unknown, path: string): unknown {
  const errno = errnoOf(error);
  // Already said for the operator (EEXIST's "another arbiter"), or no errno to explain.
  if ((isIvshError(error) && !(error instanceof SystemCallError)) || !errno) return error;
  const directory = dirname(path);
  const known = SOCKET_FILE_FAILURES[errno === "EPERM" ? "EACCES" : errno === "ENOTDIR" ? "ENOENT" : errno];
  return failure(
    known?.code ?? "SystemCall",
    `listen on ${path}`,
    known?.why(directory, errno) ??
      `making a socket file in ${directory} failed (${errno}): choose another --socket`,
  );
}

/**
 * Gives the socket bound at `privatePath` mode 0660 and the name `path`, if nothing is there; refuses,
 * saying so, if something is. Returns the file's identity, for `removeIfStill`. The caller still removes
 * `privatePath` if this throws.
 */
export function publishSocket(privatePath: string, path: string): string | undefined {
  // 0660: the owner and its group (e.g. the group QEMU runs as) may connect, nobody else.
  chmodSync(privatePath, 0o660);
  try {
    linkSync(privatePath, path);
  } catch (error) {
    const errno = errnoOf(error);
    if (errno === "EEXIST")
      throw failure(
        "ArbiterRunning",
        `listen on ${path}`,
        `a socket appeared there after this start found the path free: another arbiter${arbiterListening(path)} ` +
          "started on this --socket at the same time (stop it, or choose another --socket)",
      );
    // A file system without hard links, or a security profile that forbids them (EACCES, where the
    // directory itself is writable): renamed instead, which would replace a file put there meanwhile.
    if (!["EPERM", "EOPNOTSUPP", "ENOTSUP", "EACCES"].includes(errno ?? ""))
      throw socketFileFailure(error, path);
    try {
      renameSync(privatePath, path);
    } catch (renameError) {
      throw socketFileFailure(renameError, path);
    }
    return fileIdentity(path);
  }
  const identity = fileIdentity(privatePath);
  removeFile(privatePath);
  return identity;
}
