/**
 * The arbiter's part in futex parking (docs/layout.md, "Parking"): it runs in the host's kernel, so it can
 * wake the host's futex sleepers itself. A waker in a guest cannot: its WAKE reaches the arbiter, which
 * wakes its own queue (handlers.ts) and, through this, the host's mailbox. When a client dies holding a
 * lock, its host waiters are woken here too, to find OWNER_DIED. A guest's futex sleepers see such changes
 * at the end of their slice; nothing in the host can reach into a guest's kernel.
 */
import { lstatSync } from "node:fs";
import { dirname } from "node:path";
import { errnoOf } from "../ffi/errno.ts";
import { flaggedDirectoryRefusal, flaggedRefusal } from "../ffi/file-flags.ts";
import { log } from "../log.ts";
import {
  mailboxIndex,
  PARKABLE_WORDS,
  type ParkableWord,
  parkedCount,
  parkedDomain,
  SlotKind,
  SlotWord,
  WAKE_ALL,
} from "../region/layout.ts";
import { mailboxPath, WakeMailbox } from "../region/mailbox.ts";
import type { RegionSlots } from "./slots.ts";

export class HostWakes {
  /** Kept while the file at the mailbox's path is not the one mapped (region-watch.ts's kind of finding). */
  private gone: string | undefined;

  private constructor(
    /** Undefined while it could not be made: the sweep tries again (`adoptLate`). */
    private mailbox: WakeMailbox | undefined,
    private readonly slots: RegionSlots,
    /** Where and how large to make it, and why it could not be last time (its errno). */
    private readonly made?: { regionPath: string; slotCount: number; why: string },
  ) {}

  /**
   * The host's mailbox for this region, or undefined where there is none (then only the queue wakes). One
   * that cannot be made (a region in a directory this user may not write, a full file system) is said in
   * `notes`, for the operator: the host's clients then park the slower way, and nothing else would say why.
   */
  static open(
    regionPath: string,
    slotCount: number,
    slots: RegionSlots,
    notes: string[],
  ): HostWakes | undefined {
    try {
      const mailbox = WakeMailbox.open(regionPath, slotCount);
      return mailbox && new HostWakes(mailbox, slots);
    } catch (error) {
      notes.push(unmadeMailbox(mailboxPath(regionPath), error));
      // Host sleepers are woken by host wakers, or by their slice's end, until the sweep makes or adopts it.
      const why = errnoOf(error) || String(error);
      return new HostWakes(undefined, slots, { regionPath, slotCount, why });
    }
  }

  /** After a WAKE for `word` of `slot`: wakes up to `count` host sleepers on it, if the slot says there are. */
  wakeWord(slot: number, word: number, count: number): void {
    const parkable = this.parkableOf(slot, word);
    if (!parkable || !this.mailbox) return;
    const record = this.slots.load(slot, parkable.parked);
    if (parkedCount(record) > 0 && parkedDomain(record) === this.mailbox.domain)
      this.mailbox.wake(mailboxIndex(slot, parkable), count);
  }

  /** Wakes every host sleeper of a mutex or condvar slot (its holder died, or the slot changed hands). */
  wakeSlot(slot: number): void {
    if (!this.mailbox || !this.isSyncSlot(slot)) return;
    for (const parkable of PARKABLE_WORDS) this.mailbox.wake(mailboxIndex(slot, parkable), WAKE_ALL);
  }

  /** What the operator must mend, for `ivsh status` (`problems`). */
  get problems(): string[] {
    return this.gone === undefined ? [] : [this.gone];
  }

  /**
   * Told once (and once more when it is back), at each sweep: one lstat. The file removed, a client that
   * connects since parks in the arbiter (it makes no file of its own, which nobody else would wake); the file
   * replaced, it parks on the new one, which neither the arbiter nor the clients connected before wake, so
   * each hand-off between the two waits for the sleeper's 16 ms slice to end. Not made again here: the
   * removed one cannot be linked back, and a new one would split the clients the same way.
   */
  noticeGone(): void {
    if (!this.mailbox) {
      this.adoptLate();
      return;
    }
    const path = this.mailbox.path;
    if (this.mailbox.stillAt()) {
      if (this.gone === undefined) return;
      this.gone = undefined;
      log.info(`the region's wake-up file ${path} is back: host clients that connect park on a futex again`);
      return;
    }
    if (this.gone !== undefined) return;
    this.gone =
      `the region's wake-up file ${path} was removed or replaced while the arbiter ran: host clients that ` +
      "connect since park in the arbiter (a socket round trip per wake-up), or on a file put there that no " +
      "earlier client wakes (a 16 ms wait per hand-off) (if it was moved, move it back; else restart the " +
      "arbiter: it makes the file again, and its host clients park on that one as they resume)";
    log.error(this.gone);
  }

  /**
   * Not made at the start (its WARN said why): tried again at each sweep. A file put there since (by the
   * operator, or a host client of an older ivsh) was opened by every host client that connected, which
   * futex-parked on it unwoken by the arbiter (a guest's wake-up waited for their 16 ms slice) and
   * unwatched; with the cause gone (room made, the directory made writable), only a restart made it.
   * Adopted or made now; those connected before park in the arbiter still, woken there. Costs a failed
   * open(2) and a realpath per sweep while it cannot, nothing once it has one.
   */
  private adoptLate(): void {
    if (!this.made) return;
    try {
      this.mailbox = WakeMailbox.open(this.made.regionPath, this.made.slotCount);
    } catch (error) {
      // Said again when the reason changes: a directory or FIFO put there since was passed over in silence,
      // the start's WARN blaming a cause long gone ("make room").
      const why = errnoOf(error) || String(error);
      if (why !== this.made.why) log.warn(unmadeMailbox(mailboxPath(this.made.regionPath), error));
      this.made.why = why;
      return;
    }
    if (this.mailbox)
      log.info(
        `the region's wake-up file ${this.mailbox.path} is there now (put there, or made once it could be): ` +
          "the arbiter wakes host clients through it, and those that connect from now on park on a futex",
      );
  }

  close(): void {
    this.mailbox?.close();
  }

  private parkableOf(slot: number, word: number): ParkableWord | undefined {
    if (!this.isSyncSlot(slot)) return undefined; // a channel's words 3-5 are its own, not park records
    return PARKABLE_WORDS.find((parkable) => parkable.word === word);
  }

  private isSyncSlot(slot: number): boolean {
    const kind = this.slots.load(slot, SlotWord.kind);
    return kind === SlotKind.mutex || kind === SlotKind.condvar;
  }
}

/**
 * Why the mailbox is missing, what it costs, and what gives it back. Host clients then park in the arbiter:
 * none makes the file itself (mailbox.ts, openMade), which the arbiter could not reach to pass on a guest's
 * wake-up.
 */
function unmadeMailbox(path: string | undefined, error: unknown): string {
  const errno = errnoOf(error);
  if (path && notRegular(path))
    return (
      `the region's wake-up file ${path} is not a regular file (${(error as Error).message}): remove it, and ` +
      "the arbiter makes the file at its next sweep; host clients park in the arbiter meanwhile, a socket " +
      "round trip per wake-up"
    );
  const where = path ? dirname(path) : "its directory";
  // Read-only is no matter of users: a unit's ProtectSystem= leaves a region's directory so when its
  // ReadWritePaths= names the region's file alone.
  // Root meets EPERM too, for a file (or, one not made yet, its directory) flagged immutable or
  // append-only: no user to let write.
  const flagged =
    errno === "EPERM" && path ? (flaggedRefusal(path) ?? flaggedDirectoryRefusal(path)) : undefined;
  const remedy =
    errno === "EROFS"
      ? `; ${where} is on a read-only file system: under a systemd unit with ProtectSystem=, add ${where} (not the region's file alone) to its ReadWritePaths=`
      : flagged
        ? `; ${flagged}`
        : ["EACCES", "EPERM"].includes(errno)
          ? `; let the arbiter's user write ${where}`
          : ["ENOSPC", "EDQUOT"].includes(errno)
            ? `; make room on ${where}'s file system`
            : "";
  return (
    `the region's wake-up file could not be made (${(error as Error).message}): host clients park in the ` +
    `arbiter instead of on a futex, a socket round trip per wake-up${remedy}`
  );
}

/**
 * Whether a file other than a regular one is at `path`; not known (false) where the path cannot be looked
 * at (EACCES: its directory made unsearchable to the arbiter's user). Thrown from this error path, every
 * sweep threw here, an ERROR 4 times a second, skipping the rest of the sweep (expiring
 * leases, probing the journal), as the reason was never kept.
 */
function notRegular(path: string): boolean {
  try {
    const kind = lstatSync(path, { throwIfNoEntry: false });
    return kind !== undefined && !kind.isFile();
  } catch {
    return false;
  }
}
