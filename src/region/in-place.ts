/**
 * The watches that tell an operator (or a client) that a file was removed or replaced under them look at
 * it by name. A name that cannot be looked at (EACCES: its directory made unsearchable; ELOOP, EIO) says
 * nothing about the file: taken for removed, the region's watch told the operator to restart the arbiter
 * and lose every allocation, and the wake-up file's lstat threw at every sweep. Only ENOENT and ENOTDIR say
 * it is gone; anything else leaves it in place, as the socket's check does (src/host/socket-file.ts).
 */
import { errnoOf } from "../ffi/errno.ts";

const GONE = new Set(["ENOENT", "ENOTDIR"]);

/** `look`'s answer (is the file at its name still ours?), or true if the name could not be looked at. */
export function inPlaceUnlessGone(look: () => boolean): boolean {
  try {
    return look();
  } catch (error) {
    const errno = errnoOf(error);
    if (!errno) throw error; // no system call's refusal: a bug, reported as one
    return !GONE.has(errno);
  }
}
