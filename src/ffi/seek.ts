/**
 * lseek(2) on a file's descriptor: a regular file's input, read into a ring its session lost, is read again
 * from its start on the next (src/transfer/io.ts, Source.rewind); one partly sent from a mapping is read on
 * from where the mapping stopped (Source.skipTo).
 */
import { check } from "./errno.ts";
import { libc } from "./libc.ts";

const SEEK_SET = 0;

/** Moves `fd`'s offset to `offset` bytes from its start; `what` names the file in the error. */
export function seekTo(fd: number, offset: number, what: string): void {
  check(Number(libc.lseek(fd, offset, SEEK_SET)), "lseek", what);
}
