/**
 * libc for the rest of ivsh: file descriptors, mappings and raw copies. Every call that fails throws a
 * `SystemCallError` naming the call, what it was applied to, and errno's name: `madvise /dev/shm/ivsh: EINVAL`.
 * Addresses are plain numbers (x86-64 user addresses fit in 47 bits, well inside a double).
 */

import { ptr, toArrayBuffer } from "bun:ffi";
import { constants as fsConstants, fstatSync, renameSync, type Stats } from "node:fs";
import type { IvshError } from "../errors.ts";
import {
  check,
  EAGAIN,
  EEXIST,
  EINTR,
  EINVAL,
  ENOMEM,
  ETIMEDOUT,
  lastErrno,
  NoRoomToMap,
  SystemCallError,
} from "./errno.ts";
import { libc, libcRefusal as refusedLibc } from "./libc.ts";

export {
  closedAtStart,
  enlargePipe,
  isReady,
  POLLIN,
  POLLOUT,
  restoreFlags,
  setNonBlocking,
} from "./descriptor-flags.ts";
export { errnoName, errnoOf, lastErrno, SystemCallError } from "./errno.ts";
/**
 * Why libc cannot be called in this process (Bun's JIT off: ./jit.ts), or undefined. Typed here, not
 * re-exported: the package's declarations then need no bun:ffi types (a user's tsc has none).
 */
export const libcRefusal: IvshError | undefined = refusedLibc;
export {
  backgroundPriority,
  currentCpu,
  exitWithParent,
  fileSizeLimit,
  idleCompilerThreads,
  ignoreSignal,
  openFileLimit,
  outOfDescriptors,
  raiseOpenFileLimit,
  yieldProcessor,
} from "./process.ts";

// open(2) flags as this platform defines them (node:fs has them), for the raw open() below.
export const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_NOFOLLOW, O_NONBLOCK } = fsConstants;
/** Linux's values: node:fs does not export O_CLOEXEC, nor O_PATH (a name held, the file not opened). */
const O_CLOEXEC = 0o2000000;
export const O_PATH = 0o10000000;

const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;

const MAP_SHARED = 1;
const MAP_PRIVATE = 2;
const MAP_FIXED = 0x10;
const MAP_ANONYMOUS = 0x20;
const MAP_NORESERVE = 0x4000;
const MADV_POPULATE_READ = 22;
const MADV_POPULATE_WRITE = 23;
/**
 * The kernel's page on x86-64, the unit of mincore's answer. The layout's page (PAGE_SIZE in
 * region/layout.ts, a format constant) is chosen equal to it, so callers count residentPages in it.
 */
const KERNEL_PAGE_BYTES = 4096;

function cString(text: string): Buffer {
  return Buffer.from(`${text}\0`, "utf8");
}

export function openFile(path: string, flags: number, mode = 0o600): number {
  return check(libc.open(cString(path), flags | O_CLOEXEC, mode), "open", path);
}

/** A new file (O_CREAT | O_EXCL), or undefined if it exists: an answer, not an error to build. */
export function createFile(path: string, flags: number, mode: number): number | undefined {
  const fd = libc.open(cString(path), flags | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  return fd < 0 && lastErrno() === EEXIST ? undefined : check(fd, "open", path);
}

export function closeFd(fd: number): void {
  libc.close(fd);
}

/**
 * Whether `fd` is a terminal. libc's isatty rather than node:tty's: importing node:tty loads Node's
 * stream machinery, about a millisecond of every command's start (a profile of `ivsh guest send`).
 */
export function isTerminal(fd: number): boolean {
  return libc.isatty(fd) === 1;
}

export function truncateFd(fd: number, size: number, path: string): void {
  check(libc.ftruncate(fd, size), "ftruncate", path);
}

export function changeMode(fd: number, mode: number, path: string): void {
  check(libc.fchmod(fd, mode), "fchmod", path);
}

/**
 * Takes an exclusive advisory lock on an open file without waiting; false if another process holds it.
 * The kernel drops the lock when the holder exits, however it exits (kill -9 included).
 */
export function tryLockExclusive(fd: number, path: string): boolean {
  return tryFlock(fd, path, 2); // LOCK_EX
}
/** A shared lock, tried on a descriptor of one's own: false if another process holds the file exclusively. */
export const tryLockShared = (fd: number, path: string): boolean => tryFlock(fd, path, 1); // LOCK_SH

function tryFlock(fd: number, path: string, operation: number): boolean {
  if (libc.flock(fd, operation | 4) === 0) return true; // LOCK_NB: never waits
  const errno = lastErrno();
  if (errno === EAGAIN) return false;
  throw new SystemCallError("flock", path, errno);
}

export type FileType = "file" | "directory" | "pipe" | "char-device" | "socket" | "other";

function fileTypeOf(stats: Stats): FileType {
  if (stats.isFile()) return "file";
  if (stats.isDirectory()) return "directory";
  if (stats.isFIFO()) return "pipe";
  if (stats.isCharacterDevice()) return "char-device";
  if (stats.isSocket()) return "socket";
  return "other";
}

/** Size and type of an open file. */
export interface FileStatus {
  size: number;
  type: FileType;
  /** Device and inode: equal for two descriptors of one open file, socket or pipe. */
  identity: string;
}

export function fileStatus(fd: number, path: string): FileStatus {
  const stats = throughNode("fstat", path, () => fstatSync(fd));
  return { size: stats.size, type: fileTypeOf(stats), identity: `${stats.dev}:${stats.ino}` };
}

/** Runs a node:fs call; its failure becomes the SystemCallError the rest of ivsh expects. */
function throughNode<T>(call: string, target: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    const errno = (error as { errno?: unknown }).errno;
    if (typeof errno === "number") throw new SystemCallError(call, target, Math.abs(errno));
    throw error;
  }
}

export function fileSize(fd: number, path: string): number {
  return fileStatus(fd, path).size;
}

export function renameFile(from: string, to: string): void {
  throughNode("rename", `${from} -> ${to}`, () => renameSync(from, to));
}

function checkMapping(result: unknown, target: string, length: number): number {
  // MAP_FAILED is (void*)-1, which bun:ffi hands back as a bigint because it does not fit a double.
  if (typeof result === "number" && result !== 0) return result;
  const errno = lastErrno();
  throw errno === ENOMEM ? new NoRoomToMap(target, length) : new SystemCallError("mmap", target, errno);
}

/** Maps `length` bytes of `fd` shared, so stores are seen by every process (and VM) mapping the same file. */
export function mapShared(fd: number, length: number, prot: number, path: string, offset = 0): number {
  return checkMapping(libc.mmap(null, length, prot, MAP_SHARED, fd, offset), path, length);
}

/** Maps `length` bytes of `fd` from `offset` shared at `address`, replacing whatever was mapped there. */
export function mapSharedAt(
  address: number,
  length: number,
  prot: number,
  fd: number,
  offset: number,
  what: string,
): void {
  const mapped = checkMapping(
    libc.mmap(address, length, prot, MAP_SHARED | MAP_FIXED, fd, offset),
    what,
    length,
  );
  if (mapped !== address) throw new SystemCallError("mmap", `${what} (placed elsewhere)`, EINVAL);
}

/**
 * Replaces what is mapped at `address` with inaccessible anonymous memory (with PROT_READ, zeros to read):
 * the addresses stay reserved, and it costs neither memory nor a place in any file's mappings.
 */
export function reserveAt(address: number, length: number, what: string, prot = PROT_NONE): void {
  const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE;
  const mapped = checkMapping(libc.mmap(address, length, prot, flags, -1, 0), what, length);
  if (mapped !== address) throw new SystemCallError("mmap", `${what} (placed elsewhere)`, EINVAL);
}

/** Reserves `length` bytes of address space, inaccessible until something is mapped over part of it. */
export function reserve(length: number, what: string): number {
  const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
  return checkMapping(libc.mmap(null, length, PROT_NONE, flags, -1, 0), what, length);
}

/** Private anonymous memory: the baseline the benchmarks compare the region against. */
export function mapAnonymous(length: number): number {
  return checkMapping(
    libc.mmap(null, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
    "anonymous",
    length,
  );
}

export function unmap(address: number, length: number, what: string): void {
  check(libc.munmap(address, length), "munmap", what);
}

const MADV_REMOVE = 9;

/**
 * Gives the pages of a shared file mapping back to the file system (MADV_REMOVE: a hole is punched, every
 * process mapping the file then reads zeros there). False if the kernel would not, for whatever reason:
 * callers then write zeros, which always works.
 */
export function discardPages(address: number, length: number): boolean {
  return libc.madvise(address, length, MADV_REMOVE) === 0;
}

/**
 * Which pages of a page-aligned range are in memory (mincore: bit 0 of one byte per page), or undefined
 * if the kernel would not say. For a shared file mapping a page not in memory is a hole or swapped out.
 */
export function residentPages(address: number, length: number): Uint8Array | undefined {
  const pages = new Uint8Array(Math.ceil(length / KERNEL_PAGE_BYTES));
  return libc.mincore(address, length, pages) === 0 ? pages : undefined;
}

/**
 * Maps every page of a range into this process's page tables now (MADV_POPULATE_READ / _WRITE), so the
 * first pass over it takes no page faults. False where the kernel is older than 5.14 and has no such advice.
 */
export function populate(address: number, length: number, forWriting: boolean, what: string): boolean {
  const advice = forWriting ? MADV_POPULATE_WRITE : MADV_POPULATE_READ;
  if (libc.madvise(address, length, advice) === 0) return true;
  const errno = lastErrno();
  if (errno === EINVAL) return false;
  throw new SystemCallError("madvise", what, errno);
}

export function copyMemory(destination: number, source: number, length: number): void {
  if (length > 0) libc.memcpy(destination, source, length);
}

/** The most one view can cover: Bun refuses a longer one with "RangeError: Out of memory". */
export const MAX_VIEW_BYTES = 2 ** 32;

/**
 * A zero-copy ArrayBuffer over mapped memory. It does not own the memory: unmapping it is the caller's job.
 * No deallocator: Bun runs one when the buffer is detached (a freed segment's, src/guest/segment.ts).
 */
export function viewOf(address: number, length: number): ArrayBuffer {
  return toArrayBuffer(address, 0, length);
}

/** Where a view's first byte is. (Typed as ArrayBufferView so the library's declarations need no Node types.) */
export function addressOf(view: ArrayBufferView): number {
  return ptr(view as DataView);
}

/** One read(2) into memory at `address`, retried on EINTR. Returns 0 at end of file, -1 on EAGAIN. */
export function readInto(fd: number, address: number, length: number, what: string): number {
  for (;;) {
    const got = Number(libc.read(fd, address, length));
    if (got >= 0) return got;
    const errno = lastErrno();
    if (errno === EAGAIN) return -1;
    if (errno !== EINTR) throw new SystemCallError("read", what, errno);
  }
}

/** One pread(2) of `length` bytes at file `offset` into memory at `address`, retried on EINTR: 0 at end of file. */
export function readAt(fd: number, address: number, length: number, offset: number, what: string): number {
  for (;;) {
    const got = Number(libc.pread(fd, address, length, offset));
    if (got >= 0) return got;
    const errno = lastErrno();
    if (errno !== EINTR) throw new SystemCallError("pread", what, errno);
  }
}

/** One write(2) from memory, retried on EINTR. Returns the bytes written, -1 on EAGAIN (non-blocking fd). */
export function writeSome(fd: number, address: number, length: number, what: string): number {
  for (;;) {
    const wrote = Number(libc.write(fd, address, length));
    if (wrote >= 0) return wrote;
    const errno = lastErrno();
    if (errno === EAGAIN) return -1;
    if (errno !== EINTR) throw new SystemCallError("write", what, errno);
  }
}

/** Writes all `length` bytes at `address` to `fd`, looping over short writes and EINTR. */
export function writeAll(fd: number, address: number, length: number, what: string): void {
  let done = 0;
  while (done < length) {
    const wrote = Number(libc.write(fd, address + done, length - done));
    if (wrote >= 0) {
      done += wrote;
      continue;
    }
    const errno = lastErrno();
    if (errno !== EINTR && errno !== EAGAIN) throw new SystemCallError("write", what, errno);
  }
}

const SYS_FUTEX = 202;
// Without FUTEX_PRIVATE_FLAG: the waiter and the waker are different processes sharing a file mapping.
const FUTEX_WAIT = 0;
const FUTEX_WAKE = 1;
const futexTimeout = new BigInt64Array(2);

export type FutexWaitResult = "woken" | "changed" | "timed-out" | "interrupted";

/**
 * Sleeps in the kernel while the u32 at `address` (in a MAP_SHARED mapping) holds `expected`, for at most
 * `timeoutMs`. The kernel compares and sleeps atomically against FUTEX_WAKE on the same file page, so a
 * wake between our last look and the sleep is not lost ("changed"). Blocks the calling thread.
 */
export function futexWait(address: number, expected: number, timeoutMs: number): FutexWaitResult {
  const nanoseconds = Math.max(0, Math.round(timeoutMs * 1e6));
  futexTimeout[0] = BigInt(Math.floor(nanoseconds / 1e9));
  futexTimeout[1] = BigInt(nanoseconds % 1e9);
  if (Number(libc.syscall(SYS_FUTEX, address, FUTEX_WAIT, expected, futexTimeout, null, 0)) === 0)
    return "woken";
  const errno = lastErrno();
  if (errno === EAGAIN) return "changed";
  if (errno === ETIMEDOUT) return "timed-out";
  if (errno === EINTR) return "interrupted";
  throw new SystemCallError("futex", "FUTEX_WAIT", errno);
}

const FUTEX_WAKE_OP = 5;
const EFAULT = 14;
/**
 * FUTEX_OP(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_EQ, -1): add 1 to the word. The kernel wakes the second address's
 * sleepers when the comparison holds, at least one even with a count of 0; with the same address it
 * holds only for a word at 0xffffffff (once in 2^32 wakes): one spurious wake-up, which every sleeper allows.
 */
const FUTEX_OP_ADD_ONE = (1 << 28) | (0 << 24) | (1 << 12) | 0xfff;

/**
 * Adds 1 to the u32 at `address` and wakes up to `count` threads sleeping in futexWait on it, in one
 * FUTEX_WAKE_OP: the kernel makes the add, so a word whose file page is gone (someone truncated the file)
 * fails the call with EFAULT (then 0 is returned: nobody can be sleeping there) instead of killing this
 * process with SIGBUS, as a store of its own would.
 */
export function futexBumpAndWake(address: number, count: number): number {
  // value2 (the second wake's count, in the timeout argument) is 0.
  const woken = Number(
    libc.syscall(SYS_FUTEX, address, FUTEX_WAKE_OP, count, null, address, FUTEX_OP_ADD_ONE),
  );
  if (woken >= 0) return woken;
  const errno = lastErrno();
  if (errno === EFAULT) return 0;
  throw new SystemCallError("futex", "FUTEX_WAKE_OP", errno);
}

/** Wakes up to `count` threads sleeping in futexWait on `address` (in any process mapping the same page). */
export function futexWake(address: number, count: number): number {
  const woken = Number(libc.syscall(SYS_FUTEX, address, FUTEX_WAKE, count, null, null, 0));
  if (woken < 0) throw new SystemCallError("futex", "FUTEX_WAKE", lastErrno());
  return woken;
}
