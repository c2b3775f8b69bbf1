/**
 * `ivsh guest recv --out FILE --fsync`: the verified copy on disk before it takes FILE's name, and the name
 * on disk after. Without it the kernel writes both back when it will, as after cp, curl -o or rsync without
 * its --fsync: a crash of the machine (not of the process) in between may leave FILE, named as verified,
 * empty or short (ext4 allocates a new file's blocks at writeback; its auto_da_alloc safeguard covers a
 * rename over an existing file, not a new name). Asked for, not always done: the fsync of 2 GiB just
 * written to an ext4 disk took 0.86 s, against 1.3 s for the whole transfer (none on tmpfs).
 */
import { fsync, fsyncSync } from "node:fs";
import { dirname } from "node:path";
import { failure } from "../errors.ts";
import { closeFd, errnoOf, O_RDONLY, openFile } from "../ffi/index.ts";

/** The copy's bytes to disk: asynchronous, so that heartbeats (the lease) go on while a slow disk takes them. */
export async function flushCopy(fd: number, path: string): Promise<void> {
  const error = await new Promise<Error | null>((done) => fsync(fd, done));
  if (error) throw failure("SystemCall", `write ${path} to disk`, `fsync said ${unstored(errnoOf(error))}`);
}

/** An fsync's errno, with what to do: the user asked for the copy on disk, and the disk did not take it. */
function unstored(errno: string): string {
  const full = errno === "ENOSPC" || errno === "EDQUOT";
  const hint = full
    ? "its file system is full: free space, then receive again"
    : "its disk could not store it: see the kernel's log (dmesg), then receive again, to another disk if it fails again";
  return `${errno} (${hint})`;
}

/**
 * The name `final` took to disk (its directory fsynced); `undo` (the keep's) first if that fails: a copy
 * whose name may not survive a crash is not told kept. `target`: what the user named.
 */
export function nameToDisk(final: string, target: string, undo: () => void): void {
  try {
    const directory = openFile(dirname(final), O_RDONLY);
    try {
      fsyncSync(directory);
    } finally {
      closeFd(directory);
    }
  } catch (error) {
    undo();
    throw failure(
      "SystemCall",
      `write ${target}'s name to disk`,
      `its directory's fsync said ${unstored(errnoOf(error))}`,
    );
  }
}
