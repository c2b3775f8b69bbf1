/** The temporaries outputs are written through (writeWhole), and those a run killed outright left. */
import { randomBytes } from "node:crypto";
import { lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { errnoOf } from "../ffi/errno.ts";
import { removeFile } from "../remove-file.ts";

/** `.ivsh-PID-N-RANDOM.tmp`: not after the output (too long), random (two pid namespaces' same pid). */
const TEMPORARY = /^\.ivsh-(\d+)-\d+-[0-9a-f]{12}\.tmp$/;

/** Unmodified this long before removed: a run in another pid namespace may be alive under a dead pid. */
const LEFT_FOR_MS = 10 * 60_000;

/** How many temporary files this process has made: each its own, beside outputs written at once. */
let made = 0;

/** The directories this process has cleared of leftovers: once each (the figures are several files). */
const cleared = new Set<string>();

/** A new temporary file's path in `dir`, first cleared of what killed runs left there. */
export function temporaryIn(dir: string): string {
  removeLeftovers(dir);
  return join(dir, `.ivsh-${process.pid}-${++made}-${randomBytes(6).toString("hex")}.tmp`);
}

/** Removes `dir`'s temporaries of dead pids, unmodified for LEFT_FOR_MS; never fails the write after it. */
export function removeLeftovers(dir: string, now = Date.now()): void {
  if (cleared.has(dir)) return;
  cleared.add(dir);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(TEMPORARY.exec(name)?.[1] ?? Number.NaN);
    if (!Number.isSafeInteger(pid) || pid === process.pid || alive(pid)) continue;
    const path = join(dir, name);
    try {
      const stats = lstatSync(path);
      if (stats.isFile() && now - stats.mtimeMs >= LEFT_FOR_MS) removeFile(path);
    } catch {
      // Gone meanwhile, or not this user's to remove: left.
    }
  }
}

/** Whether a process `pid` exists here (EPERM: it does, as another user's). */
function alive(pid: number): boolean {
  if (pid < 1) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoOf(error) !== "ESRCH";
  }
}
