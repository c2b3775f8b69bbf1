/**
 * Where a transfer's bytes go, without a copy of our own: the sink writes(2) straight from a ring chunk. A
 * regular file is written as FILE.partial and renamed to FILE only once the whole stream arrived and its
 * digest matched: a failed transfer never leaves a complete-looking file.
 */
import { existsSync, lstatSync, statSync } from "node:fs";
import { failure, throwIfAborted } from "../errors.ts";
import { removalRefusal } from "../ffi/file-flags.ts";
import {
  closeFd,
  enlargePipe,
  errnoOf,
  type FileType,
  fileStatus,
  O_CREAT,
  O_NONBLOCK,
  O_TRUNC,
  O_WRONLY,
  openFile,
  POLLOUT,
  restoreFlags,
  SystemCallError,
  setNonBlocking,
  writeAll,
  writeSome,
} from "../ffi/index.ts";
import { removeFile } from "../remove-file.ts";
import { formatBytes, formatDuration } from "../units.ts";
import { flushCopy, nameToDisk } from "./durable.ts";
import {
  descriptorNamed,
  isFifo,
  namedFailure,
  openNamed,
  PIPE_BYTES,
  streamFailure,
  waitReady,
} from "./io.ts";
import { keepCopy, type SetAside } from "./keep-copy.ts";
import { identityAt, removeIfStill } from "./name-moves.ts";
import { claimPartial, type HeldLeftover, landingOf, refuseUnreplaceable, stillNamed } from "./out-names.ts";
import type { StreamKeeper } from "./receiver.ts";
import { descriptorType, stdoutType } from "./sink-descriptors.ts";
import { type UndoLeft, undoKeep } from "./undo-keep.ts";

export class Sink implements StreamKeeper {
  private savedFlags: number | undefined;
  private closed = false;
  written = 0; // bytes written so far
  /** A write found no space: the partial copy is removed, not left to keep the file system full. */
  private outOfSpace = false;
  /** The stream was verified whole (`keep` was called): a copy that could not be kept is never removed. */
  verified = false;
  /** `keep` made TARGET the verified copy (and `unkeep` has not undone it). */
  private kept = false;
  /** The kept copy's "dev:ino" (held open until the verdict): `unkeep` moves TARGET back only while it is that. */
  private keptIdentity = "";
  /** With --force, the file TARGET replaced, kept aside (and held) until the verdict is final (`settle`). */
  private replaced: SetAside | undefined;
  /** TARGET.partial, a second name of the kept copy whose removal the keep's link fallback was refused. */
  private copyLeft: string | undefined;

  /** --fsync: the verified copy on disk before it takes its name, and the name after (./durable.ts). */
  durable = false;
  /** A leftover FILE.partial --force replaces, held until data arrives (claimPartial); `fd` is -1 till then. */
  private leftover: HeldLeftover | undefined;

  private constructor(
    private fd: number,
    /** What the user asked for ("-" for stdout). */
    readonly target: string,
    /** The file being written: TARGET.partial for a regular file, else the target itself. */
    readonly writing: string,
    readonly type: FileType,
    /** A file at `target` may be replaced (--force), once the new copy is verified. */
    private readonly replacing = false,
    /** The name the kept copy takes: `target`, or the file it names if it is a symbolic link. */
    private readonly final = target,
  ) {
    // A pipe or socket is made non-blocking so a stalled reader costs us polls, not a blocked event loop
    // (in which neither Ctrl-C nor the heartbeats that keep our lease are heard).
    if (type === "pipe") enlargePipe(fd, PIPE_BYTES);
    if (type === "pipe" || type === "socket") this.savedFlags = setNonBlocking(fd, true, writing);
  }

  /**
   * `force`: a regular file already at `target` may be replaced (once the new one is verified); without
   * it that is refused before anything is written.
   */
  static open(target: string, { force = false }: { force?: boolean } = {}): Sink {
    try {
      return Sink.openNamed(target, force);
    } catch (error) {
      // A name that cannot be looked at (ENOTDIR, ELOOP, ...) is named as the --out the user gave.
      throw namedFailure(error, target, `write ${target}`, OUT_ARGUMENT) ?? error;
    }
  }

  private static openNamed(target: string, force: boolean): Sink {
    if (target === "-") return new Sink(1, "-", "stdout", stdoutType());
    // --out /dev/stdout, /dev/fd/N, ...: written straight to that open descriptor, as `-` is to stdout (no
    // FILE.partial beside the link, no rename over it, no existing file refused: the shell made it).
    const descriptor = descriptorNamed(target);
    if (descriptor !== undefined)
      return new Sink(descriptor, target, target, descriptorType(descriptor, target));
    const final = landingOf(target);
    const exists = existsSync(final);
    const special = exists && !statSync(final).isFile();
    if (exists && !special && !force)
      throw failure(
        "AlreadyExists",
        `write ${target}`,
        "the file already exists (pass --force to replace it once the new copy is verified, or choose another --out)",
      );
    const argument = OUT_ARGUMENT;
    if (special) {
      const fd = openNamed(target, O_WRONLY | O_CREAT | O_TRUNC, 0o644, `write ${target}`, argument);
      return new Sink(fd, target, target, fileStatus(fd, target).type);
    }
    if (exists) refuseUnreplaceable(final, target);
    const claimed = claimPartial(`${final}.partial`, final, force, argument);
    const held = typeof claimed !== "number";
    const sink = new Sink(held ? -1 : claimed, target, `${final}.partial`, "file", force, final);
    if (held) sink.leftover = claimed;
    return sink;
  }

  /** Data arrived (or an empty stream's verdict): a held leftover gives way to this stream's FILE.partial. */
  private claim(): void {
    const leftover = this.leftover;
    if (!leftover) return;
    this.leftover = undefined;
    try {
      this.fd = leftover.replace();
    } catch (error) {
      throw namedFailure(error, this.target, `write ${this.target}`, OUT_ARGUMENT) ?? error;
    }
  }

  /**
   * `open`, except that a FIFO no program reads yet is waited for, by polling a non-blocking open, instead
   * of in open(2): that would block the event loop with it, leaving Ctrl-C, SIGTERM and `waitMs` (the
   * --timeout) unheard, and nothing said about what it waits for (`onWaiting` is told).
   */
  static async openWhenRead(
    target: string,
    options: { force?: boolean; signal?: AbortSignal; waitMs?: number; onWaiting?: (what: string) => void },
  ): Promise<Sink> {
    const fifo = target !== "-" && descriptorNamed(target) === undefined && isFifo(target);
    if (!fifo) return Sink.open(target, options);
    const action = `write ${target}`;
    const started = performance.now();
    for (let tries = 0; ; tries++) {
      throwIfAborted(options.signal, `wait for a reader of ${target}`);
      try {
        // Not openNamed: ENXIO here is no refusal, it means no reader yet.
        const fd = openFile(target, O_WRONLY | O_NONBLOCK);
        return new Sink(fd, target, target, "pipe");
      } catch (error) {
        if (!(error instanceof SystemCallError && error.errnoName === "ENXIO"))
          throw namedFailure(error, target, action, OUT_ARGUMENT) ?? error;
      }
      if (tries === 0) options.onWaiting?.(`for a program to open ${target} for reading`);
      if (options.waitMs !== undefined && performance.now() - started > options.waitMs)
        throw failure(
          "Timeout",
          action,
          `no program opened the FIFO for reading within ${formatDuration(options.waitMs)} (--timeout)`,
        );
      await Bun.sleep(FIFO_POLL_MS);
    }
  }

  async write(address: number, length: number, signal?: AbortSignal): Promise<void> {
    this.claim();
    if (this.type !== "pipe" && this.type !== "socket") {
      this.writeToFile(address, length);
      this.written += length;
      return;
    }
    // A pipe or socket: counted as it goes, for what it took of a chunk is out even if its reader then
    // leaves (`| head`).
    let done = 0;
    while (done < length) {
      const wrote = this.writeToPipe(address + done, length - done);
      if (wrote > 0) {
        done += wrote;
        this.written += wrote;
      } else await waitReady(this.fd, POLLOUT, this.writing, signal);
    }
  }

  /** How a regular file is written: write(2), or through a pipe (run.ts, src/ffi/splice.ts). */
  writeFile: (fd: number, address: number, length: number, what: string) => void = writeAll;
  /** A full file system is named with what to do, and the truncated copy is not kept to fill it. */
  private writeToFile(address: number, length: number): void {
    try {
      this.writeFile(this.fd, address, length, this.writing);
    } catch (error) {
      const errno = errnoOf(error);
      if (errno !== "ENOSPC" && errno !== "EDQUOT")
        throw streamFailure(error, `write ${this.target === "-" ? "stdout" : this.target}`, this.reached());
      this.outOfSpace = true;
      const full = errno === "ENOSPC" ? "its file system is full" : "this user's disk quota is used up";
      throw failure(
        "SystemCall",
        `write ${this.target === "-" ? "stdout" : this.target}`,
        `${full} (${errno}) after ${formatBytes(this.reached())}: free space there or choose another --out${this.renames ? " (the partial copy is removed)" : ""}`,
      );
    }
  }

  /** Bytes that reached a file: a chunk that did not fit may have been written in part. */
  private reached(): number {
    if (this.type !== "file") return this.written;
    return Math.max(this.written, fileStatus(this.fd, this.writing).size);
  }

  /** A reader that closed its end early (`| head`) is named as such, not as a bare EPIPE. */
  private writeToPipe(address: number, length: number): number {
    try {
      return writeSome(this.fd, address, length, this.writing);
    } catch (error) {
      if (!(error instanceof SystemCallError && error.errnoName === "EPIPE"))
        throw streamFailure(error, `write the stream to ${this.writing}`, this.written);
      throw failure(
        "SystemCall",
        `write the stream to ${this.writing}`,
        `the program reading it closed its end after ${this.written} bytes, before the stream ended (EPIPE)`,
      );
    }
  }

  /**
   * The stream failed: closes, and removes TARGET.partial if nothing reached it (a receiver that got no
   * data leaves no file) or what did is `wrong` (a digest mismatch). Returns the partial file left for
   * inspection, if any. If the verified copy was already kept (after the verdict), nothing is left.
   */
  abandon({ wrong = false }: { wrong?: boolean } = {}): string | undefined {
    try {
      return this.abandoned(wrong);
    } catch {
      // Its directory made unsearchable (EACCES): named as left, not thrown over the transfer's own error.
      return this.writing;
    } finally {
      // Only now: unlocked, an empty FILE.partial looks left by a killed receiver, and a receiver that took
      // it over (unlinked it, made its own) would have its own removed here, by name.
      this.close();
    }
  }

  private abandoned(wrong: boolean): string | undefined {
    // A leftover held is let go as it was (close). One whose replacing failed (fd still -1: its name taken
    // meanwhile) left no file of this receiver's: what has the name is another's, not bytes it got.
    if (!this.renames || this.leftover || this.fd < 0) return undefined;
    if (this.kept) return void this.settle();
    // Not claimed as left when it is gone (its directory removed meanwhile).
    const named = lstatSync(this.writing, { throwIfNoEntry: false });
    if ((this.written > 0 || this.verified) && !(this.outOfSpace || wrong) && named) return this.writing;
    // Another receiver's now (this one's was unlinked, and the name taken): not this one's to remove.
    if (named && !this.closed && !stillNamed(this.writing, this.fd)) return undefined;
    try {
      removeFile(this.writing);
      return undefined;
    } catch (error) {
      // Its directory refuses changes now: named as left, with why, and the transfer's own error is what is said.
      this.unremoved = removalRefusal(error, this.writing);
      return this.writing;
    }
  }

  /**
   * The stream arrived whole and verified: TARGET.partial becomes TARGET. A file it replaces (--force) is
   * set aside first (a second name), so `unkeep` can put it back. If that fails, the verified copy stays TARGET.partial
   * (`abandon` keeps it) and the error names it.
   */
  keep(): void {
    try {
      this.claim();
      if (this.renames) this.rename();
      if (this.renames && this.durable) nameToDisk(this.final, this.target, () => this.unkeep());
    } finally {
      // Not before the rename: unlocked, an empty copy (an empty stream) looks left by a killed receiver,
      // and another would unlink it and make its own, which this rename then took. Kept, not until the
      // verdict (`settle`, `abandon`): its inode, freed, may be given to a later receiver's copy (ext4 does
      // at once), which `unkeep` would then take for this one's.
      if (!this.kept) this.close();
    }
  }

  /** With --fsync, before `keep`: the copy's bytes to disk (off the event loop). */
  async flush(): Promise<void> {
    if (this.durable && this.renames && this.fd >= 0) await flushCopy(this.fd, this.writing);
  }

  private rename(): void {
    this.verified = true;
    const names = { target: this.target, copy: this.writing, final: this.final };
    const { replaced, identity, copyLeft } = keepCopy(names, this.fd, this.replacing);
    this.replaced = replaced;
    this.copyLeft = copyLeft;
    this.kept = true;
    this.keptIdentity = identity;
  }

  /** After `keep`, the verdict could not be told: TARGET back to TARGET.partial, the old file back. */
  unkeep(): void {
    if (!this.renames || !this.kept) return;
    const old = this.replaced;
    this.replaced = undefined; // whichever step fails, what FILE replaced is never removed
    if (old?.left) removeIfStill(old.left, old.identity); // FILE.partial, the old file's (refused at the keep): freed
    if (this.copyLeft) removeIfStill(this.copyLeft, this.keptIdentity); // the copy's, freed likewise
    try {
      const where = { target: this.target, copy: this.writing, final: this.final, old: old?.name };
      this.undoLeft = undoKeep(where, this.keptIdentity);
      // Where the undo left each (it failed, its error says so): for the CLI to name, as a failed keep does.
      this.undone = {
        copy: stillNamed(this.writing, this.fd) ? this.writing : undefined,
        aside: old && !this.undoLeft.aside && identityAt(old.name) === old.identity ? old.name : undefined,
      };
    } finally {
      if (old) closeFd(old.fd);
    }
    this.kept = false;
  }

  /**
   * Set by an `unkeep` that did not fail: the name the verified copy is under now, if it is FILE.partial,
   * and the file FILE replaced, if it stays under its second name (a file was put at FILE meanwhile).
   */
  undone: { copy: string | undefined; aside: string | undefined } | undefined;
  undoLeft: UndoLeft | undefined; // set by `unkeep`: a name its undo could not remove after a link

  /**
   * Why a file this sink was to remove stayed (unlink's errno, the flag): FILE.partial that `abandon` was
   * to remove, or the replaced file's second name that `settle` was to.
   */
  unremoved: string | undefined;

  /** Set by `settle`: why FILE.partial, the replaced file's name after the keep's swap, stays (its removal refused). */
  oldNameLeft: string | undefined;
  /** Set by `settle`: why FILE.partial, a second name of the kept copy (`copyLeft`), stays. */
  copyNameLeft: string | undefined;

  /**
   * The verdict is final: the replaced file, if any, is let go. Returns its second name if that could not
   * be removed (its directory made read-only meanwhile): the transfer stands, the name is the user's to remove.
   */
  settle(): string | undefined {
    this.close();
    const aside = this.replaced;
    this.replaced = undefined;
    if (this.copyLeft) this.copyNameLeft = removeIfStill(this.copyLeft, this.keptIdentity);
    if (!aside) return undefined;
    if (aside.left) this.oldNameLeft = removeIfStill(aside.left, aside.identity);
    let same: boolean;
    try {
      // Only the file set aside: one put under its name since (it was moved or removed) is someone's.
      const named = lstatSync(aside.name, { throwIfNoEntry: false });
      same = named !== undefined && `${named.dev}:${named.ino}` === aside.identity;
    } catch (error) {
      this.unremoved = errnoOf(error) || String(error);
      return aside.name;
    } finally {
      // Before the removal: NFS keeps a removed name that is open as a .nfsXXXX file until it is closed.
      closeFd(aside.fd);
    }
    try {
      if (same) removeFile(aside.name);
      return undefined;
    } catch (error) {
      this.unremoved = removalRefusal(error, aside.name);
      return aside.name;
    }
  }

  /** The stream failed: TARGET.partial stays, under that name, for inspection. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.leftover?.release();
    this.leftover = undefined;
    if (this.savedFlags !== undefined) restoreFlags(this.fd, this.savedFlags, this.writing);
    if (this.fd > 2) closeFd(this.fd);
  }

  private get renames(): boolean {
    return this.writing !== this.target && this.target !== "-";
  }
}

const OUT_ARGUMENT = "--out names the file to write, in a directory that exists";

/** How often a receiver looks whether a FIFO it is to write has a reader yet. */
const FIFO_POLL_MS = 20;
