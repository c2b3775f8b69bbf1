/**
 * A file's inode flags, as lsattr shows them (FS_IOC_GETFLAGS): an immutable or append-only file may not
 * be renamed, replaced or removed by anyone, root included, until chattr clears the flag.
 */
import { dirname } from "node:path";
import { IvshError } from "../errors.ts";
import { removeFile } from "../remove-file.ts";
import { closeFd, errnoOf, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, openFile } from "./index.ts";
import { libc } from "./libc.ts";

/** _IOR('f', 1, long) on x86-64 (the kernel reads and writes an int through it). */
const FS_IOC_GETFLAGS = 0x80086601;
const FS_IMMUTABLE_FL = 0x10;
const FS_APPEND_FL = 0x20;

/**
 * "immutable" or "append-only" if `path` is flagged so; undefined if it is not, or if that cannot be told
 * (a file this user may not open for reading, a file system without these flags): the caller then meets
 * the refusal, if any, when it renames.
 */
export function renameRefusedBy(path: string): "immutable" | "append-only" | undefined {
  let fd: number;
  try {
    fd = openFile(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const flags = new Int32Array(2); // room for a long, should a kernel write one
    if (libc.ioctl(fd, FS_IOC_GETFLAGS, flags) !== 0) return undefined;
    if (((flags[0] ?? 0) & FS_IMMUTABLE_FL) !== 0) return "immutable";
    if (((flags[0] ?? 0) & FS_APPEND_FL) !== 0) return "append-only";
    return undefined;
  } finally {
    closeFd(fd);
  }
}

/**
 * Why no one may write `path`, root included, when it is flagged immutable or append-only (an open for
 * writing, or a rename over it, is EPERM then, which read as a missing permission): the flag, where it
 * shows, and how to clear it, with `instead` as the other way out if there is one; `named` is how the
 * sentence names it. Undefined when it is not flagged.
 */
export function flaggedRefusal(path: string, instead?: string, named = "it"): string | undefined {
  const flag = renameRefusedBy(path);
  if (flag === undefined) return undefined;
  const letter = flag === "immutable" ? "i" : "a";
  return (
    `${named} is ${flag} (chattr +${letter}; lsattr shows it): no one may write it, root included ` +
    `(clear the flag with chattr -${letter}${instead ? `, or ${instead}` : ""})`
  );
}

/** flaggedRefusal for the directory `path` is in, which no file may be made in or removed from then. */
export function flaggedDirectoryRefusal(path: string, instead?: string): string | undefined {
  const directory = dirname(path);
  return flaggedRefusal(directory, instead, `its directory ${directory}`);
}

/**
 * Why removing `path` failed, in words: unlink's errno, and for EPERM its directory's flag where it has
 * one (`EPERM: its directory /srv is append-only (chattr +a; …)`).
 */
export function removalRefusal(error: unknown, path: string): string {
  const errno = errnoOf(error) || String(error);
  const flagged = errno === "EPERM" ? flaggedDirectoryRefusal(path) : undefined;
  return flagged ? `${errno}: ${flagged}` : errno;
}

/**
 * Removes a file a step made and then refused, returning the error to throw: the refusal's own (no room
 * for a region, say), which unlink's EPERM (its directory made append-only) must not replace; a file
 * left is named in it, as `what` says what it is.
 */
export function removeMadeFile(path: string, refusal: unknown, what = "which this start made"): unknown {
  try {
    removeFile(path);
    return refusal;
  } catch (error) {
    if (!(refusal instanceof IvshError)) return refusal;
    const left = `${path}, ${what}, is left (${removalRefusal(error, path)}): remove it yourself`;
    return new IvshError(refusal.code, `${refusal.message}; ${left}`, { cause: refusal });
  }
}
