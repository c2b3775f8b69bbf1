/**
 * A FILE.partial an earlier receive left, which --force replaces (./out-names.ts): held until the stream's
 * first bytes only where it can then be removed, else met now, before any sender comes.
 */
import { accessSync, constants, fstatSync, statSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { failure } from "../errors.ts";
import { flaggedRefusal, removalRefusal, renameRefusedBy } from "../ffi/file-flags.ts";
import { errnoOf } from "../ffi/index.ts";

/**
 * Whether unlink(2) would take `partial` (open at `fd`) now: not flagged, nor its directory, which this user
 * may write, and in a sticky one (/tmp) its own or the directory's. Held otherwise, its refusal was met only
 * at a sender's first bytes, which cost that sender its send.
 */
export function removableNow(partial: string, fd: number): boolean {
  const directory = dirname(partial);
  if (renameRefusedBy(partial) !== undefined || renameRefusedBy(directory) !== undefined) return false;
  try {
    accessSync(directory, constants.W_OK | constants.X_OK); // EROFS for root too
  } catch {
    return false;
  }
  const uid = process.getuid?.();
  if (uid === undefined || uid === 0) return true;
  const parent = statSync(directory);
  return (parent.mode & S_ISVTX) === 0 || parent.uid === uid || fstatSync(fd).uid === uid;
}

const S_ISVTX = 0o1000;

/** Unlinks the leftover `partial`; one it may not is named, with why (unlink's own error named FILE). */
export function unlinkLeftover(partial: string, action: string): void {
  try {
    unlinkSync(partial);
  } catch (error) {
    const errno = errnoOf(error);
    if (errno === "ENOENT") return; // gone meanwhile: as good
    if (errno !== "EPERM" && errno !== "EACCES" && errno !== "EROFS") throw error;
    const why = flaggedRefusal(partial) ?? removalRefusal(error, partial);
    throw failure(
      "PermissionDenied",
      action,
      `${partial}, which an earlier receive left, cannot be removed (${why}): remove it yourself, or choose another --out`,
    );
  }
}
