/**
 * A kernel's wake mailbox: the futex words that processes of one kernel (the host, or one guest) sleep on
 * when they park on a mutex or condvar without the arbiter. Why not a futex on the region itself: in a
 * guest the region is PCI BAR memory, which the kernel cannot key a futex on; a small file in the
 * kernel's own tmpfs works everywhere, and a futex on a MAP_SHARED file works between processes.
 *
 * One file per region per kernel: beside a region file (`REGION.wake`), or for a guest's device in its
 * tmpfs, named after the device's path (every process of a kernel maps the region by it); two u32 per slot (see layout.ts `mailboxIndex`). A waker in the same kernel
 * bumps the word and calls FUTEX_WAKE; the sleeper compares against the value it read before its last look
 * at the slot, so a bump in between makes its FUTEX_WAIT return at once.
 *
 * The file holds no data, only wake counters: anyone who writes it can cause a spurious wake-up, or make
 * a sleeper miss one until its slice ends (parking.ts bounds every sleep), nothing worse.
 */
import { existsSync, lstatSync, readFileSync, realpathSync, statSync } from "node:fs";
import {
  addressOf,
  changeMode,
  closeFd,
  createFile,
  type FutexWaitResult,
  fileStatus,
  futexBumpAndWake,
  futexWait,
  mapShared,
  O_NOFOLLOW,
  O_RDWR,
  openFile,
  PROT_READ,
  PROT_WRITE,
  readAt,
  SystemCallError,
  truncateFd,
  unmap,
} from "../ffi/index.ts";
import { inPlaceUnlessGone } from "./in-place.ts";
import { DOMAIN_MASK, MAILBOX_WORDS_PER_SLOT, PAGE_SIZE } from "./layout.ts";

/** Tried in order: the first that exists is every process's choice in this kernel. */
const MAILBOX_DIRECTORIES = ["/dev/shm", "/tmp"];
const BOOT_ID = "/proc/sys/kernel/random/boot_id";

let domainOfThisKernel: number | undefined;

/**
 * A 24-bit name for the kernel this process runs on: the hash of its boot id, which differs between the
 * host and every guest (and every boot). 0 when there is no /proc to read it from: such a process never
 * futex-parks, so nobody takes its kernel for their own.
 */
export function kernelDomain(): number {
  if (domainOfThisKernel !== undefined) return domainOfThisKernel;
  let bootId: string;
  try {
    bootId = readFileSync(BOOT_ID, "utf8").trim();
  } catch {
    domainOfThisKernel = 0;
    return 0;
  }
  const hash = fnv1a(bootId) & DOMAIN_MASK;
  domainOfThisKernel = hash === 0 ? 1 : hash;
  return domainOfThisKernel;
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/**
 * The mailbox file for a region mapped from `regionPath`, or undefined if this kernel has no place for it.
 * A region file (the host's) keeps its mailbox beside it, as it keeps its `.state`: whoever removes the
 * region's directory removes both. A device's BAR (a guest's) gets one in the guest's own tmpfs.
 */
export function mailboxPath(regionPath: string): string | undefined {
  return mailboxPlace(regionPath)?.path;
}

/**
 * Where the mailbox is, and whether the arbiter makes it: beside a region file it does, at its start; a
 * guest's has no arbiter in its kernel, so its first client makes it.
 */
function mailboxPlace(regionPath: string): { path: string; arbiterMakes: boolean } | undefined {
  const identity = regionIdentity(regionPath);
  if (!identity.startsWith("/sys/")) return { path: `${identity}.wake`, arbiterMakes: true };
  const directory = MAILBOX_DIRECTORIES.find((candidate) => isDirectory(candidate));
  if (!directory) return undefined;
  return {
    path: `${directory}/ivsh-wake-${fnv1a(identity).toString(16).padStart(8, "0")}`,
    arbiterMakes: false,
  };
}

/**
 * The same for every process of this kernel that maps the region, however it named it: a relative or
 * linked path resolves to one file, and a BAR's write-combining mapping is the same BAR.
 */
function regionIdentity(regionPath: string): string {
  let resolved = regionPath;
  try {
    resolved = realpathSync(regionPath);
  } catch {
    // not there (yet): the name as given is the best we have
  }
  return resolved.replace(/_wc$/, "");
}

function isDirectory(path: string): boolean {
  try {
    return existsSync(path) && statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export class WakeMailbox {
  /** Where `load` reads a word to (a syscall's buffer). */
  private readonly word = new Int32Array(1);

  private constructor(
    readonly path: string,
    readonly domain: number,
    private readonly fd: number,
    private readonly base: number,
    private readonly bytes: number,
    /** Device and inode of the file mapped, to tell whether it is still the one at `path`. */
    private readonly identity: string,
  ) {}

  /**
   * Maps (creating or growing if need be) the mailbox for `slotCount` slots of the region at
   * `regionPath`. Throws a SystemCallError if the file cannot be made; callers then park in the arbiter.
   * A client (`asClient`) does not make a region file's mailbox, the arbiter's to make (openMade).
   */
  static open(regionPath: string, slotCount: number, asClient = false): WakeMailbox | undefined {
    const domain = kernelDomain();
    const place = mailboxPlace(regionPath);
    if (domain === 0 || !place) return undefined;
    const { path, arbiterMakes } = place;
    const bytes = mailboxBytes(slotCount);
    const fd = arbiterMakes && asClient ? openMade(path) : openMailboxFile(path);
    try {
      const { size, identity } = fileStatus(fd, path);
      if (size < bytes) truncateFd(fd, bytes, path);
      const base = mapShared(fd, bytes, PROT_READ | PROT_WRITE, path);
      return new WakeMailbox(path, domain, fd, base, bytes, identity);
    } catch (error) {
      closeFd(fd);
      throw error;
    }
  }

  /**
   * The value to compare against: read before the last look at the slot word. Read by pread, as every
   * access here is a system call: the file is anyone's to write, so anyone may truncate it, and a touch of
   * the mapping past its end would be SIGBUS. A truncated file is grown back (its words read 0 again).
   */
  load(index: number): number {
    if (readAt(this.fd, addressOf(this.word), 4, index * 4, this.path) === 4) return this.word[0]!;
    try {
      growTo(this.fd, this.bytes, this.path);
      if (readAt(this.fd, addressOf(this.word), 4, index * 4, this.path) === 4) return this.word[0]!;
    } catch {
      // not grown: as below
    }
    return 0; // still short: the sleep after it returns at once (EFAULT), and the caller looks again
  }

  /**
   * Sleeps while word `index` still holds `seen`; at most `timeoutMs`. Blocks this thread. A word whose
   * page someone truncated away meanwhile returns at once ("changed"): the caller looks again.
   */
  sleep(index: number, seen: number, timeoutMs: number): FutexWaitResult {
    try {
      return futexWait(this.base + index * 4, seen, timeoutMs);
    } catch (error) {
      if (error instanceof SystemCallError && error.errnoName === "EFAULT") return "changed";
      throw error;
    }
  }

  /**
   * Wakes up to `count` sleepers on word `index`; returns how many it woke. The bump comes first: a sleeper
   * about to sleep sees it. The kernel makes both (FUTEX_WAKE_OP): a mailbox someone truncated (it is
   * anyone's to write) then costs a wake-up, not this process (SIGBUS); the arbiter wakes through it too.
   */
  wake(index: number, count: number): number {
    return futexBumpAndWake(this.base + index * 4, count);
  }

  /** Whether the file at `path` is still the one mapped (not removed, nor replaced; a name it cannot look at: yes). */
  stillAt(): boolean {
    return inPlaceUnlessGone(() => {
      const stats = lstatSync(this.path, { throwIfNoEntry: false });
      return stats !== undefined && `${stats.dev}:${stats.ino}` === this.identity;
    });
  }

  close(): void {
    unmap(this.base, this.bytes, this.path);
    closeFd(this.fd);
  }
}

/** Only ever grown: another region of the same hashed path may use more slots (it shares the words). */
function growTo(fd: number, bytes: number, path: string): void {
  if (fileStatus(fd, path).size < bytes) truncateFd(fd, bytes, path);
}

/** The mailbox file's size for `slotCount` slots (whole pages). */
export function mailboxBytes(slotCount: number): number {
  const bytes = slotCount * MAILBOX_WORDS_PER_SLOT * 4;
  return Math.ceil(bytes / PAGE_SIZE) * PAGE_SIZE;
}

/**
 * Opens the file the arbiter made. Not made again if missing: removed while the arbiter ran (a clean-up of
 * /dev/shm, an `rm` of REGION.*), and a new file would be one that neither the arbiter nor any client
 * connected before wakes (each hand-off with them waited for the sleeper's 16 ms slice to end). Its ENOENT
 * sends the client to park in the arbiter, which wakes it at once (parking.ts says why in its facts).
 */
function openMade(path: string): number {
  return openFile(path, O_RDWR | O_NOFOLLOW);
}

/**
 * Opens the file, creating it readable and writable by every user of this kernel (any of them may park).
 * Found there (every client but the first): no error is built for it, which loaded errno's names at every
 * connect.
 */
function openMailboxFile(path: string): number {
  const fd = createFile(path, O_RDWR | O_NOFOLLOW, 0o666);
  if (fd === undefined) return openFile(path, O_RDWR | O_NOFOLLOW);
  changeMode(fd, 0o666, path); // past the umask
  return fd;
}
