/**
 * Undoing a keep: whose rename failed (the file FILE replaced back to its name); whose verdict could not
 * be told (the receiver's session was lost: frozen past its lease): FILE back to FILE.partial, the file it
 * replaced back to FILE.
 */
import { existsSync, lstatSync, rmSync } from "node:fs";
import { renameFile } from "../ffi/index.ts";
import { unkeepFailure } from "./keep-failures.ts";
import { moveUnlessTaken } from "./name-moves.ts";

/**
 * `where.final` back to `where.copy`, and `where.old` (the file it replaced, if any) back to `final`; only
 * while `final` is still the kept copy (`identity`, "dev:ino"). Frozen past the lease, a receiver may wake
 * to find FILE another receiver's verified copy (it replaced this one, --force) or gone: not this one's to
 * move, nor to put the replaced file back over. That file then stays under its second name, which the next
 * receive names (`leftAside`).
 */
export function undoKeep(
  where: { target: string; copy: string; final: string; old: string | undefined },
  identity: string,
): void {
  const kept = (path: string) => {
    const now = lstatSync(path, { throwIfNoEntry: false });
    return now !== undefined && `${now.dev}:${now.ino}` === identity;
  };
  if (!kept(where.final)) return;
  let moved: boolean | "replaced";
  try {
    // Not over a FILE.partial another receiver made since: that one is writing it. And only this copy:
    // another may have been renamed to FILE since the look above.
    moved = moveUnlessTaken(where.final, where.copy, kept);
  } catch (error) {
    throw unkeepFailure(error, where);
  }
  if (moved === "replaced") return;
  if (!moved) throw unkeepFailure(inTheWay(where.copy), where);
  if (where.old) renameFile(where.old, where.final);
}

/** What stands at `path`, which a hard link found taken: another receiver's file, or not a file at all. */
function inTheWay(path: string): string {
  const there = lstatSync(path, { throwIfNoEntry: false });
  if (there?.isDirectory()) return "EISDIR";
  return there?.isFile() ? `another receiver is writing ${path}` : "EEXIST";
}

/**
 * The final rename failed: `aside`, the file FILE replaced (if any), goes back to `final`; returns where it
 * is if not there. Still at `final` (it was linked aside), only its second name goes.
 */
export function putBack(aside: string | undefined, final: string): string | undefined {
  if (!aside) return undefined;
  try {
    if (existsSync(final)) rmSync(aside, { force: true });
    else renameFile(aside, final);
    return undefined;
  } catch {
    return aside;
  }
}
