/**
 * A small file system of a test's own, to fill up or make read-only: a tmpfs mounted for the test's body.
 * Mounting needs mount(2), that is root; a test that cannot says why (testUnless(cannotMount, ...)).
 */
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { toolMissing } from "./tools.ts";

export const cannotMount: string | undefined =
  process.getuid?.() === 0 ? toolMissing("mount") : "only root can mount a small tmpfs to fill";

/**
 * Mounts a tmpfs of `size` (as mount's size=, "1m") at `dir`, made if missing, for `body`; unmounted after.
 * `inodes` (mount's nr_inodes=) bounds how many files it holds, to run out of those instead of bytes.
 */
export async function withSmallTmpfs<T>(
  dir: string,
  size: string,
  body: (dir: string) => Promise<T>,
  inodes?: number,
): Promise<T> {
  mkdirSync(dir, { recursive: true });
  const options = `size=${size}${inodes === undefined ? "" : `,nr_inodes=${inodes}`}`;
  const mounted = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", options, "tmpfs", dir]);
  if (mounted.exitCode !== 0) throw new Error(`mount a ${size} tmpfs at ${dir}: ${mounted.stderr}`);
  try {
    return await body(dir);
  } finally {
    Bun.spawnSync(["umount", "-l", dir]);
  }
}

/** Writes `file` until it holds `bytes` or its file system is full (ENOSPC; any other error is thrown). */
export function fillFile(file: string, bytes = Number.POSITIVE_INFINITY): void {
  const fd = openSync(file, "w");
  try {
    for (let done = 0, page = Buffer.alloc(4096, 1); done < bytes; done += page.byteLength)
      writeSync(fd, page);
  } catch (error) {
    if ((error as { code?: string }).code !== "ENOSPC") throw error;
  } finally {
    closeSync(fd);
  }
}
