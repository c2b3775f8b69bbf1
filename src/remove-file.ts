/**
 * Removing one file. Not rmSync: Bun's (1.4.5) non-recursive rmSync reports unlink(2)'s EPERM (an
 * append-only or immutable directory, another user's file in a sticky one such as /tmp) and ENOTDIR as
 * EFAULT, "bad address in system call argument", which sends a user looking for a cause that is not there.
 * Its recursive form reports EPERM as EPERM, so directory trees may keep it.
 */
import { unlinkSync } from "node:fs";

/** Removes the file (or socket, or link) at `path` if there is one; any other failure throws unlink's errno. */
export function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    // node:fs's code, read here rather than through ffi's errnoOf: this file loads no libc.
    if ((error as { code?: unknown } | null)?.code !== "ENOENT") throw error;
  }
}
