/**
 * What a failed write or open of the --state journal means to its operator: the path, the errno in words,
 * and what to do. A raw `ENOSPC: no space left on device, write` with a stack read as a bug of the
 * arbiter's, and told nobody which file or what to free.
 */
import { dirname } from "node:path";
import { failure, type IvshError } from "../errors.ts";
import { flaggedDirectoryRefusal, flaggedRefusal } from "../ffi/file-flags.ts";
import { errnoOf } from "../ffi/index.ts";

/**
 * The error of `action` on the state file at `path` that failed with `error` (a Node errno error).
 * `firstJournal`: no journal exists yet (a first start), so there is none to carry over and no arbiter to stop.
 */
export function stateFileFailure(
  error: unknown,
  path: string,
  action: string,
  firstJournal = false,
): IvshError {
  const code = errnoOf(error);
  const directory = dirname(path);
  const moveAdvice = (verb: "move" | "copy") =>
    firstJournal ? "pass --state on a writable file system with room" : keepingAdvice(path, verb);
  switch (code) {
    case "ENOSPC":
    case "EDQUOT":
      return failure(
        "JournalFull",
        action,
        `the state journal's file system is full (${code}) at ${directory}; free space there, or ${moveAdvice("move")}`,
      );
    case "ENOENT":
      return failure(
        "StateInvalid",
        action,
        `the directory ${directory} does not exist (ENOENT); create it or pass --state in an existing directory`,
      );
    case "ENOTDIR":
      return failure(
        "StateInvalid",
        action,
        `a part of ${directory} is not a directory (ENOTDIR); pass another --state`,
      );
    case "EACCES":
    case "EPERM": {
      // Root meets EPERM too, for a journal flagged immutable or append-only: no directory's mode to blame.
      const flagged =
        code === "EPERM"
          ? (flaggedRefusal(path, "pass another --state") ??
            flaggedDirectoryRefusal(path, "pass another --state"))
          : undefined;
      if (flagged) return failure("PermissionDenied", action, flagged);
      return failure(
        "PermissionDenied",
        action,
        `this user (uid ${process.getuid?.() ?? "?"}) may not write in ${directory} (${code}); run \`ivsh host\` as its owner or pass --state in a directory it may write`,
      );
    }
    case "EROFS":
      return failure(
        "StateInvalid",
        action,
        // Read-only where the operator's shell can write: a unit's ProtectSystem= (contrib/systemd), as a
        // region's and a socket's refusals say too.
        `${directory} is on a read-only file system (EROFS); ${moveAdvice("copy")}, or, under a systemd unit with ProtectSystem=, add ${directory} to its ReadWritePaths=`,
      );
    default:
      return failure(
        "SystemCall",
        action,
        `${(error as Error).message ?? String(error)} (pass --state FILE elsewhere)`,
      );
  }
}

/**
 * How to put the journal elsewhere without losing it: "move --state" alone read as "restart with another
 * --state", and a new, empty one discards every allocation the old one records. "With the arbiter stopped",
 * not "stop the arbiter": said by a running arbiter and by one whose start it refused, which is not running.
 */
function keepingAdvice(path: string, verb: "move" | "copy"): string {
  return (
    `${verb} ${path}, with the arbiter stopped, to a writable file system with room and pass its new path as ` +
    "--state (a new --state without it discards every allocation)"
  );
}
