/**
 * Users' and groups' names for messages about files: "group kvm (gid 36)" tells an operator what to join
 * where "gid 36" sends them to /etc/group. Read on demand (only on an error path); a minimal container
 * without the files gets the numbers.
 */
import { readFileSync } from "node:fs";

/** "NAME (uid N)", or "uid N" if the name cannot be found. */
export function userName(uid: number): string {
  const name = nameFor("/etc/passwd", uid);
  return name ? `${name} (uid ${uid})` : `uid ${uid}`;
}

/** "NAME (gid N)", or "gid N" if the name cannot be found. */
export function groupName(gid: number): string {
  const name = nameFor("/etc/group", gid);
  return name ? `${name} (gid ${gid})` : `gid ${gid}`;
}

/** The first field of the line whose third field is `id` (both files share that shape). */
function nameFor(file: string, id: number): string | undefined {
  try {
    const line = readFileSync(file, "utf8")
      .split("\n")
      .find((entry) => entry.split(":")[2] === String(id));
    return line?.split(":")[0] || undefined;
  } catch {
    return undefined;
  }
}
