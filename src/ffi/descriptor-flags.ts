/**
 * A descriptor's flags and readiness through fcntl(2) and poll(2): O_NONBLOCK set and restored around a
 * standard stream, a pipe's buffer enlarged, whether a standard descriptor was closed when ivsh started,
 * and whether one is ready now. Out of index.ts, which holds the calls on files and memory.
 */
import { constants as fsConstants } from "node:fs";
import { check, EINTR, lastErrno, SystemCallError } from "./errno.ts";
import { libc } from "./libc.ts";

const { O_NONBLOCK } = fsConstants;
const F_GETFL = 3;
const F_SETFL = 4;

/** Sets or clears O_NONBLOCK; returns the previous flags so they can be restored. */
export function setNonBlocking(fd: number, enabled: boolean, what: string): number {
  const flags = check(libc.fcntl(fd, F_GETFL, 0), "fcntl", what);
  check(libc.fcntl(fd, F_SETFL, enabled ? flags | O_NONBLOCK : flags & ~O_NONBLOCK), "fcntl", what);
  return flags;
}

/**
 * Whether standard descriptor `fd` was closed when this process started (`<&-`, `>&-`): Bun (1.4) then
 * opens /dev/null there, close-on-exec, and leaves inherited descriptors as they are, which never carry
 * that flag right after exec. Through the package's launcher under Node (bin/ivsh.mjs), which sees the
 * same of its own start, IVSH_CLOSED_AT_START lists them. Not seen through any other launcher that itself
 * started with one closed and passed its own /dev/null on (a wrapper script run with `<&-`).
 */
export function closedAtStart(fd: 0 | 1 | 2): boolean {
  if (closedForLauncher.has(fd)) return true;
  const F_GETFD = 1;
  const FD_CLOEXEC = 1;
  const flags = libc.fcntl(fd, F_GETFD, 0);
  return flags >= 0 && (flags & FD_CLOEXEC) !== 0;
}

/** Taken out of the environment at once: it describes this process, not the programs it starts. */
const closedForLauncher = new Set(
  (process.env.IVSH_CLOSED_AT_START ?? "").split(",").filter(Boolean).map(Number),
);
delete process.env.IVSH_CLOSED_AT_START;

/** Asks for a larger pipe buffer (fewer hand-offs with the process at the other end); best effort. */
export function enlargePipe(fd: number, bytes: number): void {
  const F_SETPIPE_SZ = 1031;
  libc.fcntl(fd, F_SETPIPE_SZ, bytes);
}

export function restoreFlags(fd: number, flags: number, what: string): void {
  check(libc.fcntl(fd, F_SETFL, flags), "fcntl", what);
}

export const POLLIN = 1;
export const POLLOUT = 4;
const POLL_DONE = 0x8 | 0x10 | 0x20; // POLLERR | POLLHUP | POLLNVAL: readable/writable enough to learn why

/** Whether `fd` is ready for `events` now (or has failed, which the next read or write reports). */
export function isReady(fd: number, events: number, what: string): boolean {
  const request = new Int32Array(2);
  request[0] = fd;
  request[1] = events; // short events, short revents (0) packed little-endian
  for (;;) {
    const result = libc.poll(request, 1, 0);
    if (result >= 0) return ((request[1]! >>> 16) & (events | POLL_DONE)) !== 0;
    if (lastErrno() !== EINTR) throw new SystemCallError("poll", what, lastErrno());
  }
}
