/**
 * lseek(2) on a file's descriptor: a regular file's input, read into a ring its session lost, is read again
 * from its start on the next (src/transfer/io.ts, Source.rewind); one partly sent from a mapping is read on
 * from where the mapping stopped (Source.skipTo); one with holes is not mapped (its first hole).
 */
import { check } from "./errno.ts";
import { libc } from "./libc.ts";

const SEEK_SET = 0;
const SEEK_HOLE = 4;

/** Moves `fd`'s offset to `offset` bytes from its start; `what` names the file in the error. */
export function seekTo(fd: number, offset: number, what: string): void {
  check(Number(libc.lseek(fd, offset, SEEK_SET)), "lseek", what);
}

/**
 * Where the first hole of `fd`'s file starts (its size if it has none; undefined where the file system will
 * not say), its offset put back at 0 after. tmpfs reports a range fallocated and not yet written as a hole.
 */
export function firstHole(fd: number, what: string): number | undefined {
  const at = Number(libc.lseek(fd, 0, SEEK_HOLE));
  // A refused lseek moved nothing: seeking back could only fail in turn (a file that cannot seek at all,
  // ESPIPE) and end a send that read(2) makes whole.
  if (at < 0) return undefined;
  seekTo(fd, 0, what);
  return at;
}
