/**
 * renameat2(2)'s flags: RENAME_NOREPLACE gives a file a name only if no file has it, in one step (a look,
 * then a rename, replaces a file made at the name in between); RENAME_EXCHANGE swaps two names in one step
 * (neither file is ever without a name, or replaced). Both are the kernel's own check, under its
 * directory locks, so no one who may write the directory can slip a file in between.
 *
 * Not every file system has them: NFS, 9p, ecryptfs and a FUSE file system whose daemon lacks RENAME2
 * answer EINVAL to both; CIFS, exFAT and vfat before Linux 6.0 to RENAME_EXCHANGE only. A kernel before
 * 3.15 answers ENOSYS, and a glibc before 2.28 has no `renameat2`. A seccomp filter that does not list
 * the call (Docker's default profile before it did) answers EPERM to every renameat2, whatever its names.
 * All of that is "unsupported" (false), for the caller to go its own way (hard links, which fail on a
 * taken name too).
 */
import { dlopen, FFIType } from "bun:ffi";
import { EEXIST, EINVAL, ENOSYS, EPERM, lastErrno, SystemCallError } from "./errno.ts";

const RENAME_NOREPLACE = 1;
const RENAME_EXCHANGE = 2;
/** Paths relative to the working directory, as rename(2) takes them. */
const AT_FDCWD = -100;

type Renameat2 = (from: number, oldPath: Buffer, to: number, newPath: Buffer, flags: number) => number;
/** Loaded on first use, on its own: a libc without it must not stop the rest of ivsh loading. */
let renameat2: Renameat2 | null | undefined;

function loaded(): Renameat2 | null {
  if (renameat2 !== undefined) return renameat2;
  try {
    const { i32, u32, cstring } = FFIType;
    const call = { args: [i32, cstring, i32, cstring, u32], returns: i32 } as const;
    renameat2 = dlopen("libc.so.6", { renameat2: call }).symbols.renameat2 as unknown as Renameat2;
  } catch {
    renameat2 = null;
  }
  return renameat2;
}

function withFlags(from: string, to: string, flags: number, call: string): boolean {
  const rename = loaded();
  if (!rename) return false;
  if (rename(AT_FDCWD, cString(from), AT_FDCWD, cString(to), flags) === 0) return true;
  const errno = lastErrno();
  if (errno === EINVAL || errno === ENOSYS) return false;
  if (errno === EPERM && filtered()) return false;
  throw new SystemCallError(call, `${from} -> ${to}`, errno);
}

/** Whether a filter, not the kernel, answers renameat2 (looked at once, on the first EPERM). */
let filteredOut: boolean | undefined;

/**
 * EPERM is also the kernel's answer to a rename it refuses (a sticky directory, an immutable file): the
 * kernel answers EINVAL to flags it never takes together before it looks at a name, a seccomp filter its
 * EPERM to that as well. Falling back only then: the fallback (link, unlink) of a refused rename may do
 * half of it (a name made, the other not removed).
 */
function filtered(): boolean {
  if (filteredOut === undefined) {
    const rename = loaded();
    const dot = cString(".");
    filteredOut =
      rename !== null &&
      rename(AT_FDCWD, dot, AT_FDCWD, dot, RENAME_NOREPLACE | RENAME_EXCHANGE) !== 0 &&
      lastErrno() === EPERM;
  }
  return filteredOut;
}

function cString(text: string): Buffer {
  return Buffer.from(`${text}\0`, "utf8");
}

/**
 * `from` renamed to `to` unless a file has that name: true if renamed; "taken" (nothing changed) if one
 * does; false if the file system cannot tell (see above). Other failures throw (`renameat2 A -> B: EACCES`).
 */
export function renameNoReplace(from: string, to: string): boolean | "taken" {
  try {
    return withFlags(from, to, RENAME_NOREPLACE, "renameat2");
  } catch (error) {
    if (error instanceof SystemCallError && error.errno === EEXIST) return "taken";
    throw error;
  }
}

/** The files named `a` and `b` swap names: true if done, false if the file system cannot (see above). */
export function exchangeNames(a: string, b: string): boolean {
  return withFlags(a, b, RENAME_EXCHANGE, "renameat2 (exchange)");
}
