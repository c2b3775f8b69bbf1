/**
 * The temporary files `ivsh bench` writes its outputs through (output.ts's writeWhole), beside each output,
 * and those a run killed outright (SIGKILL, the OOM killer: no clean-up runs) left there.
 */
import { randomBytes } from "node:crypto";
import { lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { errnoOf } from "../ffi/errno.ts";
import { removeFile } from "../remove-file.ts";

/**
 * `.ivsh-PID-N-RANDOM.tmp`. Not named after the output: a name of 245-255 bytes, which the file system
 * takes, made it too long. Random too: runs in two pid namespaces (containers) sharing the directory may
 * have the same pid.
 */
const TEMPORARY = /^\.ivsh-(\d+)-\d+-[0-9a-f]{12}\.tmp$/;

/**
 * A leftover is removed only once this long unmodified: a run in another pid namespace sharing the
 * directory may be alive under a pid that is dead here, and its temporary lives only while it is written
 * (milliseconds, seconds on a slow disk).
 */
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

/**
 * Removes the temporaries in `dir` of runs that are gone: named exactly as `temporaryIn` names them, by a
 * pid that is not alive, a file not modified for LEFT_FOR_MS. Nothing else, and never a failure of the
 * write it comes before: what cannot be looked at or removed is left.
 */
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
