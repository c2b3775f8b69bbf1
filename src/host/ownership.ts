/**
 * Whose files the arbiter is about to serve. A state journal or a region that another user made is not
 * taken over silently: a restart as another user (root after the service's user, say) re-created the
 * socket as its own, locked every client out and left a journal its owner could no longer open; and a
 * region another local user made beforehand (a file of zeros in world-writable /dev/shm is accepted) let
 * that user read and write everything shared through it.
 */
import { lstatSync, readlinkSync, type Stats } from "node:fs";
import { userName } from "../accounts.ts";
import { failure } from "../errors.ts";

/** Refuses a journal that is a link or another user's; one this user cannot even look at is loadStateFile's to explain. */
export function checkStateOwner(statePath: string): void {
  const me = process.geteuid?.();
  const state = lookAt(statePath);
  if (state?.isSymbolicLink())
    throw failure(
      "InvalidArgument",
      `use --state ${statePath}`,
      `it is a symbolic link (to ${readlinkSync(statePath)}): the journal is rewritten by renaming a new file over it, which would replace the link and leave its target stale; pass the real path`,
    );
  // A FIFO, a device or a socket: reading one waits for a writer, or never ends, and none can be renamed over.
  if (state && !state.isFile() && !state.isDirectory())
    throw failure(
      "InvalidArgument",
      `use --state ${statePath}`,
      `it is ${state.isFIFO() ? "a FIFO" : state.isSocket() ? "a socket" : "a device"}, not a regular file: pass the path of the journal file (created if absent)`,
    );
  if (me !== undefined && state && state.uid !== me)
    throw failure(
      "PermissionDenied",
      `serve the state in ${statePath}`,
      `it belongs to ${userName(state.uid)}, not to this user, ${userName(me)}: its clients reach a socket of its owner's; run \`ivsh host\` as its owner, or chown the state file and the region first`,
    );
  // Its rewrite keeps its mode, so the start renamed a snapshot over it (the region re-headed too) and then
  // could not open it to append: refused first, and not blamed on the directory. Root writes it anyway.
  if (me !== undefined && me !== 0 && state?.isFile() && (state.mode & 0o200) === 0)
    throw failure(
      "PermissionDenied",
      `use --state ${statePath}`,
      `it is mode ${(state.mode & 0o777).toString(8).padStart(4, "0")}: this user, its owner, may not write it, and the arbiter appends every change to it (chmod u+w ${statePath})`,
    );
}

/** Refuses another user's region file; returns a warning for one every user may read or write. */
export function checkRegionOwner(regionPath: string): string[] {
  const me = process.geteuid?.();
  const region = lookAt(regionPath);
  if (me === undefined || !region?.isFile()) return [];
  if (region.uid !== me)
    throw failure(
      "PermissionDenied",
      `serve the region ${regionPath}`,
      `it belongs to ${userName(region.uid)}, not to this user, ${userName(me)}, and whoever made it can read and write everything shared through it; remove it if nothing uses it, or run as its owner`,
    );
  if ((region.mode & 0o007) === 0) return [];
  const mode = (region.mode & 0o777).toString(8).padStart(4, "0");
  const can = (region.mode & 0o002) !== 0 ? "read and write" : "read";
  return [
    `${regionPath} is mode ${mode}: every user of this machine may ${can} what is shared through it (chmod o-rwx ${regionPath})`,
  ];
}

/** What is at `path` (not following a link); undefined if nothing is, or this user may not look. */
function lookAt(path: string): Stats | undefined {
  try {
    return lstatSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}
