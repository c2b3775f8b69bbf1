/**
 * lseek(2) back to a file's first byte: a regular file's input, read into a ring its session lost, is
 * read again from its start on the next (src/transfer/io.ts, Source.rewind).
 */
import { check } from "./errno.ts";
import { libc } from "./libc.ts";

const SEEK_SET = 0;

/** Moves `fd`'s offset to 0; `what` names the file in the error. */
export function seekToStart(fd: number, what: string): void {
  check(Number(libc.lseek(fd, 0, SEEK_SET)), "lseek", what);
}
