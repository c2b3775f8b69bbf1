/**
 * What a user refused a Unix socket (EACCES) can do about it: the socket's mode, owner and group, or the
 * directory on the way that this user may not search.
 */
import { statSync } from "node:fs";
import { groupName, userName } from "../accounts.ts";

/**
 * What to do about EACCES, from what the path says about itself: the socket's mode and group (the group
 * to join), or the directory on the way that this user may not search.
 */
export function accessHint(path: string): string {
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(path);
  } catch {
    const blocking = firstUnsearchable(path);
    return blocking
      ? `this user may not enter ${blocking.path} (mode ${modeOf(blocking.mode)}, group ${groupName(blocking.gid)}): join that group, or ask its owner`
      : "ask the socket's owner";
  }
  return `the socket is mode ${modeOf(stats.mode)}, owner ${userName(stats.uid)}, group ${groupName(stats.gid)}: join that group (usermod -aG), or ask its owner`;
}

/** The first directory from the root down that this user cannot search (stat of its child fails). */
function firstUnsearchable(path: string): { path: string; mode: number; gid: number } | undefined {
  const parts = path.split("/").filter(Boolean);
  for (let depth = 1; depth < parts.length; depth++) {
    const directory = `/${parts.slice(0, depth).join("/")}`;
    try {
      statSync(`/${parts.slice(0, depth + 1).join("/")}`, { throwIfNoEntry: false });
    } catch {
      const stats = statSync(directory);
      return { path: directory, mode: stats.mode, gid: stats.gid };
    }
  }
  return undefined;
}

function modeOf(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, "0");
}
