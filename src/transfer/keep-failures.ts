/**
 * What a receiver says when its verified copy could not take FILE's name, or the keeping could not be
 * undone: which step failed and why, and where each file is now.
 */
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { failure, type IvshError } from "../errors.ts";
import { errnoOf, outOfDescriptors } from "../ffi/index.ts";

/**
 * A verified copy that could not take its name: says which step failed and why, where the copy is (it is
 * whole, so receiving again would only cost time) and where the file it was to replace is now. `inTheWay`:
 * something appeared at the name during the transfer (a file without --force, or no file at all), or
 * (`forced`) a file was put there after the keep looked at it.
 */
export function keepFailure(
  error: unknown,
  step: string,
  where: {
    target: string;
    copy: string;
    old?: string;
    inTheWay?: string;
    kind?: "file" | "other";
    forced?: boolean;
  },
): IvshError {
  const errno = errnoOf(error);
  const denied = ["EACCES", "EPERM", "EROFS"].includes(errno);
  const old = where.old ? `; the file it was to replace is ${where.old}` : "";
  const copy = `The received copy, whole and verified, is ${where.copy}${old}: move it where you want it`;
  if (where.inTheWay) {
    const what =
      where.kind !== "file"
        ? "it became something other than a regular file during the transfer"
        : where.forced
          ? "a file was put there while the copy was taking its name (--force replaces only the file found there once the copy is whole: receive again to replace this one)"
          : "a file was created there during the transfer (pass --force to replace one)";
    return failure(
      "AlreadyExists",
      `keep ${where.target}`,
      `${where.inTheWay} was not replaced: ${what}. ${copy}`,
    );
  }
  const why = denied
    ? `this user may not change ${dirname(where.copy)}/ (${errno})`
    : errnoText(error, errno);
  return failure(
    denied ? "PermissionDenied" : "SystemCall",
    `keep ${where.target}`,
    `${step} failed: ${why}. ${copy}`,
  );
}

/**
 * `partial` is not the copy written: it, or its directory, was removed (or replaced) during the transfer.
 * `old`: where the file it was to replace is kept.
 */
export function vanishedFailure(partial: string, target: string, old?: string): IvshError {
  const directory = dirname(partial);
  const removed = existsSync(directory)
    ? `${partial} was removed or replaced`
    : `the output directory ${directory}/ was removed`;
  const aside = old ? `; the file it was to replace is ${old}` : "";
  return failure(
    "NotFound",
    `keep ${target}`,
    `${removed} during the transfer; nothing kept (receive again)${aside}`,
  );
}

/** `unkeep` could not move the kept copy back: it stays FILE, and what it replaced stays aside. */
export function unkeepFailure(
  error: unknown,
  where: { target: string; copy: string; final: string; old?: string },
): IvshError {
  const old = where.old ? `; the file it replaced is ${where.old}` : "";
  const errno = errnoOf(error);
  // The directory's mode changed while the receiver was frozen: say which, and that the names are as told.
  const denied = ["EACCES", "EPERM"].includes(errno);
  const why = denied
    ? `this user may no longer look in or change ${dirname(where.final)}/ (${errno})`
    : errno || String(error);
  const advice = denied ? " (give the directory its permissions back to look at or move them)" : "";
  return failure(
    "SystemCall",
    `undo the keeping of ${where.target}`,
    `moving it back to ${where.copy} failed (${why}): ${where.final} is the received copy, verified but not confirmed to its sender${old}${advice}`,
  );
}

/** `unkeep` moved the copy back, but the file it replaced could not go back to FILE: it stays aside. */
export function putBackFailure(
  error: unknown,
  where: { target: string; copy: string; final: string; old: string },
): IvshError {
  return failure(
    "SystemCall",
    `undo the keeping of ${where.target}`,
    `putting ${where.old}, the file it replaced, back at ${where.final} failed (${errnoOf(error) || String(error)}): it stays ${where.old}; the received copy is ${where.copy}, verified but not confirmed to its sender`,
  );
}

function errnoText(error: unknown, errno: string): string {
  if (errno === "EISDIR" || errno === "ENOTEMPTY" || errno === "EEXIST")
    return `a directory is in the way (${errno})`;
  const exhausted = outOfDescriptors(errno);
  if (exhausted) return `${exhausted.why}: ${exhausted.hint}`;
  return errno ? `${errno} (${(error as Error).message})` : (error as Error).message;
}
