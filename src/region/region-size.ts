/**
 * Giving a new region file its size. Past this process's file-size limit (ulimit -f) ftruncate fails with
 * EFBIG, which reached the user as the bare call ("ftruncate /dev/shm/ivsh: EFBIG (File too large)").
 */
import { failure } from "../errors.ts";
import { errnoOf, fileSizeLimit, truncateFd } from "../ffi/index.ts";
import { formatBytes } from "../units.ts";

export function sizeRegionFile(fd: number, path: string, size: number): void {
  try {
    truncateFd(fd, size, path);
  } catch (error) {
    if (errnoOf(error) !== "EFBIG") throw error;
    const limit = fileSizeLimit();
    const shown = limit === undefined ? "" : ` (ulimit -f ${Math.floor(limit / 1024)} KiB)`;
    throw failure(
      "NoSpace",
      `use ${path} as a ${formatBytes(size)} region`,
      `the file would grow past this process's file-size limit${shown} or the largest file its file system allows (EFBIG): raise the limit (ulimit -f unlimited), or pass a smaller --size`,
    );
  }
}
