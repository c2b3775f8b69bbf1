/**
 * Where a transfer's bytes come from: the source reads(2) into memory at an address (the sender's private
 * buffer, which it copies and hashes into a ring chunk in one pass: ./run.ts), and the sink, ./sink.ts,
 * writes(2) straight from a ring chunk. Files are read and written blocking (they do
 * not stall); pipes and terminals are polled, so an idle pipe never blocks the event loop (and with it
 * the heartbeats that keep the client's lease).
 */
import { fstatSync, lstatSync, readlinkSync, statfsSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { type ErrorCodeName, failure, type IvshError, throwIfAborted } from "../errors.ts";
import { flaggedDirectoryRefusal, flaggedRefusal } from "../ffi/file-flags.ts";
import {
  closedAtStart,
  closeFd,
  enlargePipe,
  errnoOf,
  type FileType,
  fileStatus,
  isReady,
  O_NONBLOCK,
  O_RDONLY,
  openFile,
  outOfDescriptors,
  POLLIN,
  readInto,
  SystemCallError,
  setNonBlocking,
  yieldProcessor,
} from "../ffi/index.ts";
import { seekTo } from "../ffi/seek.ts";
import { formatBytes } from "../units.ts";

/** A pipe at the other end of a busy process is usually ready again within microseconds. */
const SPIN_NANOSECONDS = 200_000;
/** After that, an idle pipe is polled this often (the event loop runs in between). */
const IDLE_POLL_MS = 1;
export const PIPE_BYTES = 1 << 20;

/** Waits until `fd` is ready: first spinning (yielding the core to whoever will feed or drain it), then sleeping. */
export async function waitReady(
  fd: number,
  events: number,
  what: string,
  signal?: AbortSignal,
): Promise<void> {
  const started = Bun.nanoseconds();
  while (!isReady(fd, events, what)) {
    throwIfAborted(signal, `wait for ${what}`);
    if (Bun.nanoseconds() - started < SPIN_NANOSECONDS) yieldProcessor();
    else await Bun.sleep(IDLE_POLL_MS);
  }
}

/** File systems whose files' sizes say nothing of their contents: /proc (0 bytes), /sys (4096), ... */
const PSEUDO_FILE_SYSTEMS = new Set([
  0x9fa0, // proc
  0x62656572, // sysfs
  0x64626720, // debugfs
  0x74726163, // tracefs
  0x73636673, // securityfs
  0x63677270, // cgroup2
  0x27e0eb, // cgroup
  0x62656570, // configfs (4096)
  0x65735546, // FUSE: lxcfs serves /proc files whose sizes understate them
]);

function isPseudoFile(path: string): boolean {
  try {
    return PSEUDO_FILE_SYSTEMS.has(statfsSync(path).type);
  } catch {
    return false;
  }
}

/** Opens a file the user named; the usual refusals say which argument named it and what to do. */
export function openNamed(
  path: string,
  flags: number,
  mode: number,
  action: string,
  argument: string,
): number {
  try {
    return openFile(path, flags, mode);
  } catch (error) {
    throw namedFailure(error, path, action, argument) ?? error;
  }
}

/**
 * The usual refusals of a path the user named (by open(2), or by a node:fs look at it), as an error that
 * says which argument named it and what to do; undefined for any other error.
 */
export function namedFailure(error: unknown, path: string, action: string, argument: string) {
  const errno = errnoOf(error);
  // Root's EPERM from a file or directory flagged immutable or append-only: that flag, and its chattr.
  const named = /^(--\S+|[A-Z]+) /.exec(argument)?.[1];
  const instead = named && `choose another ${named}`;
  const flagged =
    errno === "EPERM"
      ? (flaggedRefusal(path, instead, path) ?? flaggedDirectoryRefusal(path, instead))
      : undefined;
  if (flagged) return failure("PermissionDenied", action, flagged);
  const reasons: Record<string, [ErrorCodeName, string]> = {
    ENOENT: ["NotFound", `there is no such file or directory (${argument})`],
    EISDIR: ["InvalidArgument", `${path} is a directory (${argument})`],
    EACCES: [
      "PermissionDenied",
      `this user may not open ${path} (EACCES: its permissions, or its directory's, do not allow it) (${argument})`,
    ],
    // Root meets it too: an immutable or append-only file or directory (chattr +i / +a), or a security policy.
    EPERM: [
      "PermissionDenied",
      `the system refuses to let ${path} be opened or created (EPERM: immutable or append-only, or a security policy) (${argument})`,
    ],
    // Not the argument's own words ("in a directory that exists", ENOENT's advice): the path is there, read-only.
    EROFS: [
      "PermissionDenied",
      `${path} is on a read-only file system (EROFS) (${instead ? `${instead}, on a writable file system` : argument})`,
    ],
    ENOTDIR: ["NotFound", `a part of ${path} before its last '/' is not a directory (ENOTDIR) (${argument})`],
    ELOOP: ["InvalidArgument", `${path} runs into a loop of symbolic links (ELOOP) (${argument})`],
    // open(2) of a Unix socket's name (or of a device file whose device is absent).
    ENXIO: ["InvalidArgument", `${path} is a socket, or a device that is not there (ENXIO) (${argument})`],
    // Creating FILE.partial on a file system without a free inode, or room for one more name.
    ENOSPC: [
      "SystemCall",
      `its file system has no room for ${path} (ENOSPC: no free space or no free inode there; df and df -i tell) (${argument})`,
    ],
    EDQUOT: ["SystemCall", `this user's disk quota leaves no room for ${path} (EDQUOT) (${argument})`],
    ENAMETOOLONG: [
      "InvalidArgument",
      `the name is longer than its file system allows (ENAMETOOLONG) (${argument})`,
    ],
  };
  const exhausted = outOfDescriptors(errno);
  if (exhausted) return failure("SystemCall", action, `${exhausted.why}: ${exhausted.hint}`);
  const known = typeof errno === "string" ? reasons[errno] : undefined;
  return known ? failure(known[0], action, known[1]) : undefined;
}

/** What to say of a read(2) or write(2) that failed mid-stream: what happened, and what to do. */
const STREAM_ERRORS: Record<string, [string, string]> = {
  EIO: [
    "an input/output error (EIO)",
    "the device or file system could not move the data (for a disk, see dmesg)",
  ],
  EFBIG: [
    "the file would grow past the largest its file system, or this process's limit (ulimit -f), allows (EFBIG)",
    "choose another --out, or raise the limit",
  ],
  EROFS: ["its file system became read-only (EROFS)", "choose another --out"],
};

/** A read(2) or write(2) that failed mid-stream, as "Failed to ACTION since WHAT after N bytes". */
export function streamFailure(error: unknown, action: string, bytes: number): unknown {
  // EFAULT is the ring's memory, not the file's: the channel's slot explains it (chunkFailure).
  if (!(error instanceof SystemCallError) || error.errnoName === "EFAULT") return error;
  const errno = error.errnoName;
  const text = /\(([^()]*)\)$/.exec(error.message)?.[1] ?? "";
  const [reason, remedy] = STREAM_ERRORS[errno] ?? [`${errno} (${text})`, undefined];
  const after = `${reason} after ${formatBytes(bytes)}`;
  return failure("SystemCall", action, remedy ? `${after}: ${remedy}` : after);
}

/** The names of an open descriptor: /dev/fd/N, /proc/self/fd/N (and /proc/PID/fd/N for this process). */
const DESCRIPTOR_NAME = new RegExp(`^/(?:dev/fd|proc/(?:self|thread-self|${process.pid})/fd)/(\\d+)$`);

/**
 * The descriptor a name like /dev/stdout, /dev/stderr, /dev/fd/N or /proc/self/fd/N stands for, following
 * the symlinks on the way there; undefined for any other path. Such a name means the file the descriptor
 * has open (a shell's redirection): opened by name, a redirection to a regular file looks like a file to
 * replace, and replacing it would put a file in the place of the link (/dev/stdout) and leave the
 * redirection empty.
 */
export function descriptorNamed(path: string): number | undefined {
  let current = resolve(path);
  // As many links as the kernel itself follows in one lookup.
  for (let hops = 0; hops <= 40; hops++) {
    const match = DESCRIPTOR_NAME.exec(current);
    if (match) return Number(match[1]);
    try {
      if (!lstatSync(current, { throwIfNoEntry: false })?.isSymbolicLink()) return undefined;
      current = resolve(dirname(current), readlinkSync(current));
    } catch {
      return undefined; // not a name we can follow (ENOTDIR, EACCES): opening it says what is wrong
    }
  }
  return undefined;
}

/** What tells a regular file's contents changed: its size and its modification time, to the nanosecond. */
function versionOf(fd: number): { size: bigint; mtimeNs: bigint } {
  const { size, mtimeNs } = fstatSync(fd, { bigint: true });
  return { size, mtimeNs };
}

export class Source {
  /** Bytes read so far. */
  private consumed = 0;
  /** A regular file's version when opened; checked again at its end (see `checkUnchanged`). */
  private readonly openedVersion: { size: bigint; mtimeNs: bigint } | undefined;

  private constructor(
    readonly fd: number,
    readonly name: string,
    readonly type: FileType,
    /** Bytes to expect, when known (a regular file). */
    readonly size: number | undefined,
  ) {
    this.openedVersion = size !== undefined ? versionOf(fd) : undefined;
  }

  /** A FIFO opened by its name (not stdin): until some program opens it for writing, reads wait. */
  get fifo(): boolean {
    return this.type === "pipe" && this.name !== "stdin" && descriptorNamed(this.name) === undefined;
  }

  /** Some input has been read. */
  get started(): boolean {
    return this.consumed > 0;
  }

  /** A pipe's or terminal's end of input may be an interrupted producer's, not the data's real end. */
  get endMayBeInterruption(): boolean {
    return this.type !== "file";
  }

  static open(path: string): Source {
    // Read as /dev/null, a closed stdin would send an empty stream, and both ends would call it verified.
    if ((path === "-" || descriptorNamed(path) === 0) && closedAtStart(0))
      throw failure(
        "InvalidArgument",
        `send ${path === "-" ? "stdin" : path}`,
        "standard input was closed when ivsh started (<&-): pipe the data in, or name a FILE",
      );
    if (path === "-") {
      const { type } = fileStatus(0, "stdin");
      if (type === "pipe") enlargePipe(0, PIPE_BYTES);
      return new Source(0, "stdin", type, undefined);
    }
    // Non-blocking: a FIFO with no writer yet would otherwise block open(2), and with it the event loop,
    // so neither Ctrl-C nor SIGTERM could end the wait. A FIFO is then read as a pipe (polled).
    const fd = openNamed(
      path,
      O_RDONLY | O_NONBLOCK,
      0,
      `send ${path}`,
      "FILE names the file to send, or - for stdin",
    );
    const { size, type } = fileStatus(fd, path);
    // A regular file is read blocking (its reads do not stall, and a chunk must fill).
    if (type === "file") setNonBlocking(fd, false, path);
    if (type === "directory") {
      closeFd(fd);
      throw failure(
        "InvalidArgument",
        `send ${path}`,
        "it is a directory (to send a tree: tar c DIR | ivsh guest send -)",
      );
    }
    const sizeKnown = type === "file" && !isPseudoFile(path);
    return new Source(fd, path, type, sizeKnown ? size : undefined);
  }

  /**
   * Reads into `length` bytes at `address`: a file fills the chunk (short only at its end), a pipe
   * returns what is there as soon as something is. 0 means end of input.
   */
  async read(address: number, length: number, signal?: AbortSignal): Promise<number> {
    if (this.type === "file") return this.readFile(address, length);
    let filled = 0;
    for (;;) {
      if (!isReady(this.fd, POLLIN, this.name)) {
        // Hand over what we have rather than hold a stream back waiting to fill a chunk.
        if (filled > 0) return filled;
        await waitReady(this.fd, POLLIN, this.name, signal);
      }
      const got = this.readSome(address + filled, length - filled);
      if (got === 0) return filled;
      if (got > 0) filled += got;
      if (filled === length) return filled;
    }
  }

  /**
   * At the end of a regular file: throws if it is not the file that was opened, byte for byte as far as
   * size and modification time tell (it grew, shrank, or was written in place meanwhile). The receiver
   * must not be told the copy is complete and verified: the digest covers what was read, not the file.
   */
  checkUnchanged(): void {
    const opened = this.openedVersion;
    if (!opened) return;
    const change =
      this.consumed < Number(opened.size)
        ? `it ended after ${this.consumed} of its ${opened.size} bytes`
        : this.changeSinceOpened();
    if (change) throw this.changed(change);
  }

  /**
   * Why a mapping of the file could not be read at `offset` (a SIGBUS the native copy survived): it was
   * truncated or written meanwhile, or else its storage failed.
   */
  pagesLost(offset: number): IvshError {
    const opened = this.openedVersion!;
    const { size } = versionOf(this.fd);
    // As the read path says it, whose reads would have ended at the new size.
    if (size < opened.size) return this.changed(`it ended after ${size} of its ${opened.size} bytes`);
    const change = this.changeSinceOpened();
    if (change) return this.changed(change);
    return failure(
      "SystemCall",
      `read ${this.name}`,
      `its mapped pages could not be read after ${formatBytes(offset)} (an I/O error of its storage?): check the disk, then send it again`,
    );
  }

  /** After `mapped` bytes went from a mapping of the file: reading goes on from there. */
  skipTo(mapped: number): void {
    seekTo(this.fd, mapped, this.name);
    this.consumed = mapped;
  }

  private changeSinceOpened(): string | undefined {
    const opened = this.openedVersion!;
    const now = versionOf(this.fd);
    if (now.size !== opened.size) return `its size went from ${opened.size} to ${now.size} bytes`;
    if (now.mtimeNs !== opened.mtimeNs) return "it was written to";
    return undefined;
  }

  private changed(change: string): IvshError {
    return failure(
      "SourceChanged",
      `send ${this.name}`,
      `${change} while it was being sent (the receiver keeps no verified copy; send it again once nothing writes it)`,
    );
  }

  close(): void {
    if (this.fd !== 0) closeFd(this.fd);
  }

  /**
   * Whether the input can be read again from its start, made so: nothing read yet, or a regular file of
   * known size that this process opened itself (its offset is ours to move back). Stdin's offset may be
   * shared with the shell, and a pipe's bytes, once read, are gone.
   */
  rewind(): boolean {
    if (this.consumed === 0) return true;
    if (this.fd === 0 || this.size === undefined) return false;
    try {
      seekTo(this.fd, 0, this.name);
    } catch {
      return false; // the input cannot be read again: the failure that asked stands
    }
    this.consumed = 0;
    return true;
  }

  /**
   * Fills the chunk from the file, never past the size it had when opened (a growing file stops there);
   * a file of unknown size (/proc, /sys) up to its end.
   */
  private readFile(address: number, length: number): number {
    const left = this.size === undefined ? length : Math.max(0, this.size - this.consumed);
    const wanted = Math.min(length, left);
    let filled = 0;
    while (filled < wanted) {
      const got = this.readSome(address + filled, wanted - filled);
      if (got <= 0) break;
      filled += got;
    }
    return filled;
  }

  /** One read(2); one that fails (EIO) says so in words, with how far the stream got. */
  private readSome(address: number, length: number): number {
    try {
      const got = readInto(this.fd, address, length, this.name);
      this.consumed += Math.max(0, got);
      return got;
    } catch (error) {
      throw streamFailure(error, `read ${this.name}`, this.consumed);
    }
  }
}

/** Whether `path` names a FIFO. */
export function isFifo(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isFIFO() ?? false;
  } catch {
    return false; // not a name we can look at (ENOTDIR, ELOOP): `open` says what is wrong
  }
}
