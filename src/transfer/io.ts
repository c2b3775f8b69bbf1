/**
 * Where a transfer's bytes come from and go to, without a copy of our own: the source reads(2) straight
 * into a ring chunk, the sink writes(2) straight from one. Files are read and written blocking (they do
 * not stall); pipes and terminals are polled, so an idle pipe never blocks the event loop (and with it
 * the heartbeats that keep the client's lease).
 *
 * A sink that is a regular file is written as FILE.partial and renamed to FILE only once the whole
 * stream arrived and its digest matched: a failed transfer never leaves a complete-looking file.
 */
import { chmodSync, existsSync, fstatSync, linkSync, rmSync, statfsSync, statSync } from "node:fs";
import { type ErrorCodeName, failure, throwIfAborted } from "../errors.ts";
import {
  closeFd,
  enlargePipe,
  type FileType,
  fileStatus,
  isReady,
  isTerminal,
  O_CREAT,
  O_RDONLY,
  O_TRUNC,
  O_WRONLY,
  openFile,
  POLLIN,
  POLLOUT,
  readInto,
  renameFile,
  restoreFlags,
  SystemCallError,
  setNonBlocking,
  truncateFd,
  tryLockExclusive,
  writeAll,
  writeSome,
  yieldProcessor,
} from "../ffi/index.ts";
import type { StreamKeeper } from "./receiver.ts";

/** A pipe at the other end of a busy process is usually ready again within microseconds. */
const SPIN_NANOSECONDS = 200_000;
/** After that, an idle pipe is polled this often (the event loop runs in between). */
const IDLE_POLL_MS = 1;
const PIPE_BYTES = 1 << 20;

/** Waits until `fd` is ready: first spinning (yielding the core to whoever will feed or drain it), then sleeping. */
async function waitReady(fd: number, events: number, what: string, signal?: AbortSignal): Promise<void> {
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
function openNamed(path: string, flags: number, mode: number, action: string, argument: string): number {
  try {
    return openFile(path, flags, mode);
  } catch (error) {
    if (!(error instanceof SystemCallError)) throw error;
    const reasons: Record<string, [ErrorCodeName, string]> = {
      ENOENT: ["NotFound", `there is no such file or directory (${argument})`],
      EISDIR: ["InvalidArgument", `${path} is a directory (${argument})`],
      EACCES: ["PermissionDenied", `this user may not open ${path} (EACCES)`],
    };
    const known = reasons[error.errnoName];
    if (known) throw failure(known[0], action, known[1]);
    throw error;
  }
}

/**
 * Opens FILE.partial for writing, locked (flock) while this receiver writes it. One held by a live
 * receiver is refused even with --force; one an earlier, finished run left is refused unless --force,
 * which starts it again from empty.
 */
function openPartial(partial: string, target: string, force: boolean, argument: string): number {
  const action = `write ${target}`;
  const existed = existsSync(partial);
  // While it is written, a copy that replaces a file is readable by this user only: the file it replaces
  // may be private, and its mode is applied once the copy is whole (`keep`).
  const mode = existsSync(target) ? 0o600 : 0o644;
  const fd = openNamed(partial, O_WRONLY | O_CREAT, mode, action, argument);
  try {
    if (!tryLockExclusive(fd, partial))
      throw failure(
        "AlreadyExists",
        action,
        `another receiver is writing ${partial} now (wait for it, or choose another --out)`,
      );
    if (existed && !force)
      throw failure(
        "AlreadyExists",
        action,
        `${partial} exists: an earlier receive that did not finish left it (remove it, or pass --force to replace it)`,
      );
    truncateFd(fd, 0, partial);
    return fd;
  } catch (error) {
    closeFd(fd);
    throw error;
  }
}

/**
 * A file that replaces another (--force) takes the permissions of the one it replaces, as `cp` does: a
 * private file must not become readable by others because it was received again. Applied to the whole,
 * verified copy just before it takes the name, so a copy that fails stays writable for the next try.
 */
function takeModeOf(target: string, partial: string): void {
  if (!existsSync(target)) return;
  chmodSync(partial, statSync(target).mode & 0o777);
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

  /** A pipe's or terminal's end of input may be an interrupted producer's, not the data's real end. */
  get endMayBeInterruption(): boolean {
    return this.type !== "file";
  }

  static open(path: string): Source {
    if (path === "-") {
      const { type } = fileStatus(0, "stdin");
      if (type === "pipe") enlargePipe(0, PIPE_BYTES);
      return new Source(0, "stdin", type, undefined);
    }
    const fd = openNamed(path, O_RDONLY, 0, `send ${path}`, "FILE names the file to send, or - for stdin");
    const { size, type } = fileStatus(fd, path);
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
   * returns what is there as soon as something is. 0 means end of input. `beforeWrite` runs after each
   * wait for input, before read(2) writes the memory at `address` (which may have stopped being ours).
   */
  async read(
    address: number,
    length: number,
    signal?: AbortSignal,
    beforeWrite?: () => Promise<void>,
  ): Promise<number> {
    if (this.type === "file") return this.readFile(address, length);
    let filled = 0;
    for (;;) {
      if (!isReady(this.fd, POLLIN, this.name)) {
        // Hand over what we have rather than hold a stream back waiting to fill a chunk.
        if (filled > 0) return filled;
        await waitReady(this.fd, POLLIN, this.name, signal);
        await beforeWrite?.();
      }
      const got = readInto(this.fd, address + filled, length - filled, this.name);
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
    if (!this.openedVersion) return;
    const now = versionOf(this.fd);
    const opened = this.openedVersion;
    let change: string | undefined;
    if (this.consumed < Number(opened.size))
      change = `it ended after ${this.consumed} of its ${opened.size} bytes`;
    else if (now.size !== opened.size) change = `its size went from ${opened.size} to ${now.size} bytes`;
    else if (now.mtimeNs !== opened.mtimeNs) change = "it was written to";
    if (change)
      throw failure(
        "SourceChanged",
        `send ${this.name}`,
        `${change} while it was being sent (the receiver keeps no copy; send it again once nothing writes it)`,
      );
  }

  close(): void {
    if (this.fd !== 0) closeFd(this.fd);
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
      const got = readInto(this.fd, address + filled, wanted - filled, this.name);
      if (got <= 0) break;
      filled += got;
    }
    this.consumed += filled;
    return filled;
  }
}

export class Sink implements StreamKeeper {
  private savedFlags: number | undefined;
  private closed = false;
  /** Bytes written so far. */
  written = 0;
  /** `keep` made TARGET the verified copy (and `unkeep` has not undone it). */
  private kept = false;
  /** With --force, the file TARGET replaced, kept aside until the verdict is final (`settle`). */
  private replaced: string | undefined;

  private constructor(
    readonly fd: number,
    /** What the user asked for ("-" for stdout). */
    readonly target: string,
    /** The file being written: TARGET.partial for a regular file, else the target itself. */
    readonly writing: string,
    readonly type: FileType,
    /** A file already at `target` is to be replaced (--force). */
    private readonly replacing = false,
  ) {
    // A pipe is made non-blocking so a stalled reader costs us polls, not a blocked event loop.
    if (type === "pipe") {
      enlargePipe(fd, PIPE_BYTES);
      this.savedFlags = setNonBlocking(fd, true, writing);
    }
  }

  /**
   * `force`: a regular file already at `target` may be replaced (once the new one is verified); without
   * it that is refused before anything is written.
   */
  static open(target: string, { force = false }: { force?: boolean } = {}): Sink {
    if (target === "-") {
      if (isTerminal(1))
        throw failure(
          "InvalidArgument",
          "write the stream to stdout",
          "it is a terminal (pass --out FILE, or redirect)",
        );
      return new Sink(1, "-", "stdout", fileStatus(1, "stdout").type);
    }
    const exists = existsSync(target);
    const special = exists && !statSync(target).isFile();
    if (exists && !special && !force)
      throw failure(
        "AlreadyExists",
        `write ${target}`,
        "the file already exists (pass --force to replace it once the new copy is verified, or choose another --out)",
      );
    const argument = "--out names the file to write, in a directory that exists";
    if (special) {
      const fd = openNamed(target, O_WRONLY | O_CREAT | O_TRUNC, 0o644, `write ${target}`, argument);
      return new Sink(fd, target, target, fileStatus(fd, target).type);
    }
    const fd = openPartial(`${target}.partial`, target, force, argument);
    return new Sink(fd, target, `${target}.partial`, "file", exists);
  }

  async write(address: number, length: number, signal?: AbortSignal): Promise<void> {
    if (this.type !== "pipe") {
      writeAll(this.fd, address, length, this.writing);
      this.written += length;
      return;
    }
    let done = 0;
    while (done < length) {
      const wrote = this.writeToPipe(address + done, length - done);
      if (wrote > 0) done += wrote;
      else await waitReady(this.fd, POLLOUT, this.writing, signal);
    }
    this.written += length;
  }

  /** A reader that closed its end early (`| head`) is named as such, not as a bare EPIPE. */
  private writeToPipe(address: number, length: number): number {
    try {
      return writeSome(this.fd, address, length, this.writing);
    } catch (error) {
      if (!(error instanceof SystemCallError && error.errnoName === "EPIPE")) throw error;
      throw failure(
        "SystemCall",
        `write the stream to ${this.writing}`,
        `the program reading it closed its end after ${this.written} bytes, before the stream ended (EPIPE)`,
      );
    }
  }

  /**
   * The stream failed: closes, and removes TARGET.partial if nothing reached it (a receiver that got no
   * data leaves no file). Returns the partial file left for inspection, if any. If the verified copy was
   * already kept (the failure came after the verdict), TARGET is final and nothing is left.
   */
  abandon(): string | undefined {
    this.close();
    if (!this.renames) return undefined;
    if (this.kept) {
      this.settle();
      return undefined;
    }
    if (this.written > 0) return this.writing;
    rmSync(this.writing, { force: true });
    return undefined;
  }

  /**
   * The stream arrived whole and verified: TARGET.partial becomes TARGET. A file it replaces (--force) is
   * linked aside first, so `unkeep` can put it back.
   */
  keep(): void {
    this.close();
    if (!this.renames) return;
    if (this.replacing) takeModeOf(this.target, this.writing);
    if (this.replacing && existsSync(this.target)) this.replaced = setAside(this.target);
    try {
      renameFile(this.writing, this.target);
    } catch (error) {
      // The old file stays where it was: drop its second name, or, if it was moved aside, move it back.
      if (this.replaced && existsSync(this.target)) rmSync(this.replaced, { force: true });
      else if (this.replaced) renameFile(this.replaced, this.target);
      this.replaced = undefined;
      throw error;
    }
    this.kept = true;
  }

  /** After `keep`, the verdict could not be told: TARGET goes back to TARGET.partial, the old file back. */
  unkeep(): void {
    if (!this.renames || !this.kept) return;
    if (existsSync(this.target)) renameFile(this.target, this.writing);
    if (this.replaced) renameFile(this.replaced, this.target);
    this.replaced = undefined;
    this.kept = false;
  }

  /** The verdict is final: the replaced file, if any, is let go. */
  settle(): void {
    if (this.replaced) rmSync(this.replaced, { force: true });
    this.replaced = undefined;
  }

  /** The stream failed: TARGET.partial stays, under that name, for inspection. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.savedFlags !== undefined) restoreFlags(this.fd, this.savedFlags, this.writing);
    if (this.fd > 2) closeFd(this.fd);
  }

  private get renames(): boolean {
    return this.writing !== this.target && this.target !== "-";
  }
}

/** A second name for `path` (a hard link; a rename where links are not supported), to restore it from. */
function setAside(path: string): string {
  const aside = `${path}.ivsh-replaced`;
  rmSync(aside, { force: true });
  try {
    linkSync(path, aside);
  } catch {
    renameFile(path, aside);
  }
  return aside;
}
