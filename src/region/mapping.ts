/**
 * The shared region in this process's address space: the `/dev/shm` file on the host, or `resource2[_wc]`
 * of the IVSHMEM PCI device in a guest (both are files that mmap MAP_SHARED the same way). The arbiter maps
 * it whole; a client maps header, slots and what it is granted, the rest reserved (`mapRegionHeader`).
 */
import { existsSync, fstatSync, statSync } from "node:fs";
import { failure, libraryForm } from "../errors.ts";
import { removeMadeFile } from "../ffi/file-flags.ts";
import {
  changeMode,
  closeFd,
  discardPages,
  fileSize,
  fileStatus,
  mapShared,
  mapSharedAt,
  O_CREAT,
  O_RDWR,
  openFile,
  outOfDescriptors,
  PROT_READ,
  PROT_WRITE,
  reserve,
  reserveAt,
  residentPages,
  SystemCallError,
  tryLockExclusive,
  unmap,
  viewOf,
} from "../ffi/index.ts";
import { nativeFaultGuard } from "../ffi/native.ts";
import { lockHolder } from "../holders.ts";
import { formatBytes } from "../units.ts";
import { readHeader } from "./header.ts";
import { inPlaceUnlessGone } from "./in-place.ts";
import { alignUp, type Geometry, type HeaderFields, PAGE_SIZE } from "./layout.ts";
import {
  checkRoomFor,
  isTmpfsPath,
  otherSizeAdvice,
  readOnlyRegion,
  refuseFlagged,
  whyRefused,
} from "./region-file.ts";
import { sizeRegionFile } from "./region-size.ts";
import { keepRetired } from "./retired.ts";

/** `zero` writes through views of at most this much (Bun cannot view a whole region of many GiB at once). */
const ZERO_WINDOW_BYTES = 1 << 30;

export class MappedRegion {
  private tmpfs: boolean | undefined;
  /**
   * Bytes from the start mapped from the file for everyone's use (header and slots); beyond them only
   * what `expose` maps. The arbiter maps the whole file; a client its header page until `syncWords`.
   */
  private sharedPrefix: number;
  /** Int32Array over header + slots: the words every process reads and writes with Atomics. */
  private syncView: Int32Array | undefined;
  private readonly zeroWindows: Uint8Array[] = [];
  private closed = false;

  constructor(
    readonly base: number,
    readonly size: number,
    readonly source: string,
    private readonly fd: number,
    sharedPrefix = size,
  ) {
    this.sharedPrefix = sharedPrefix;
    // A touch of memory this process holds no grant for then says so, instead of "Bun has crashed".
    nativeFaultGuard()?.guard(base, size, source);
  }

  /** The file's size now (fstat): less than `size` if someone truncated it, when a touch past it is SIGBUS. */
  fileSize(): number {
    return fileSize(this.fd, this.source);
  }

  /** Whether `path` still names the file mapped here (not removed, nor replaced; a name it cannot look at: yes). */
  stillAt(path: string): boolean {
    return inPlaceUnlessGone(() => {
      const [named, mapped] = [statSync(path), fstatSync(this.fd)];
      return named.ino === mapped.ino && named.dev === mapped.dev;
    });
  }

  /** Words of the header page only; enough to read or write the header before the geometry is known. */
  headerWords(): Int32Array {
    return new Int32Array(viewOf(this.base, PAGE_SIZE));
  }

  /** Words of header and slots, once the geometry says where the data starts. */
  syncWords(geometry: Geometry): Int32Array {
    this.shareUpTo(geometry.dataOffset);
    if (!this.syncView || this.syncView.byteLength !== geometry.dataOffset)
      this.syncView = new Int32Array(viewOf(this.base, geometry.dataOffset));
    return this.syncView;
  }

  /** Maps the file up to `end` (a page multiple) where a client had only reserved it. */
  private shareUpTo(end: number): void {
    if (end <= this.sharedPrefix) return;
    this.expose(this.sharedPrefix, end - this.sharedPrefix, PROT_READ | PROT_WRITE);
    this.sharedPrefix = end;
  }

  readHeader(): HeaderFields {
    return readHeader(this.headerWords(), this.size, this.source);
  }

  /** A zero-copy view of `length` bytes at `offset`: reading or writing it touches the shared memory. */
  bytes(offset: number, length: number): Uint8Array {
    this.checkRange(offset, length);
    return new Uint8Array(viewOf(this.base + offset, length));
  }

  address(offset: number): number {
    return this.base + offset;
  }

  /**
   * Makes a range read as zeros, holding the arbiter as briefly as it can. Writing costs 22 ms per GiB of
   * pages in memory but 666 ms per GiB of pages never touched (each is allocated first); punching the
   * pages out of the file costs nothing for holes but 197 ms per GiB of pages in memory; this does either
   * in 13–19 ms (scripts/experiments/arbiter-stalls.ts). So a range is written where its pages are in memory and
   * punched where they are not (holes stay holes; a swapped-out page is punched, never skipped). Small
   * ranges too: writing a hole needs a page, and on a tmpfs that filled up after the start (another
   * program's files in /dev/shm) that is SIGBUS, which ended the arbiter for every client
   * (test/region-full-alloc.test.ts).
   */
  zero(offset: number, length: number): void {
    this.checkRange(offset, length);
    const start = Math.min(offset + length, alignUp(offset, PAGE_SIZE));
    const end = Math.max(start, Math.floor((offset + length) / PAGE_SIZE) * PAGE_SIZE);
    const resident = end > start && this.onTmpfs() && residentPages(this.base + start, end - start);
    if (!resident) {
      this.fillZero(offset, length);
      return;
    }
    this.fillZero(offset, start - offset);
    this.fillZero(end, offset + length - end);
    for (let page = 0; page < resident.length; ) {
      const inMemory = (resident[page]! & 1) === 1;
      let last = page + 1;
      while (last < resident.length && ((resident[last]! & 1) === 1) === inMemory) last++;
      const [from, bytes] = [start + page * PAGE_SIZE, (last - page) * PAGE_SIZE];
      if (inMemory || !discardPages(this.base + from, bytes)) this.fillZero(from, bytes);
      page = last;
    }
  }

  /**
   * Only on tmpfs, where a punched page is gone whole and reads back as zeros: hugetlbfs before Linux 6.2
   * skips part huge pages and still returns success, which would leave a previous holder's data.
   */
  private onTmpfs(): boolean {
    this.tmpfs ??= isTmpfsPath(this.source);
    return this.tmpfs;
  }

  private fillZero(offset: number, length: number): void {
    for (let at = offset; at < offset + length; ) {
      const window = Math.floor(at / ZERO_WINDOW_BYTES);
      const start = window * ZERO_WINDOW_BYTES;
      const upto = Math.min(offset + length, start + ZERO_WINDOW_BYTES);
      this.zeroWindow(window).fill(0, at - start, upto - start);
      at = upto;
    }
  }

  /** Views made once, not per allocation: each view made is an object for the collector. */
  private zeroWindow(window: number): Uint8Array {
    let view = this.zeroWindows[window];
    if (!view) {
      const start = window * ZERO_WINDOW_BYTES;
      view = new Uint8Array(viewOf(this.base + start, Math.min(ZERO_WINDOW_BYTES, this.size - start)));
      this.zeroWindows[window] = view;
    }
    return view;
  }

  /**
   * Makes a range inaccessible (a touch faults) by mapping reserved anonymous memory over it, not by
   * mprotect: a PROT_NONE range stays one of the file's mappings, so with every client mapping the whole
   * region each page had one mapping per client, and every walk of a page's mappings (reclaim, migration,
   * this machine's DAMON access sampling) visited all of them. With 1 000 clients kdamond took a quarter
   * of a CPU in those walks and the arbiter's p99 under `ivsh bench --scale` went from 2.0–3.2 ms with
   * DAMON off to 6.4–7.6 ms with it on; withdrawn ranges leave a page one mapping per holder.
   */
  revoke(offset: number, length: number): void {
    this.checkRange(offset, length);
    reserveAt(this.base + offset, length, `${this.source}+${offset}`);
    if (length > 0) this.sharedPrefix = Math.min(this.sharedPrefix, offset);
  }

  /** Makes a reserved range read as zeros, until `revoke` reserves it again (nothing of the file is mapped). */
  zeros(offset: number, length: number): void {
    this.checkRange(offset, length);
    reserveAt(this.base + offset, length, `${this.source}+${offset}`, PROT_READ);
  }

  /**
   * Maps a range of the file back in with `prot` (a grant), at the same addresses. If that fails, the
   * range is reserved again before the error is thrown: a failed MAP_FIXED can leave it unmapped, and
   * the runtime could then place its own memory where the next grant would be mapped over it.
   */
  expose(offset: number, length: number, prot: number): void {
    this.checkRange(offset, length);
    const what = `${this.source}+${offset}`;
    try {
      mapSharedAt(this.base + offset, length, prot, this.fd, offset, what);
    } catch (error) {
      reserveAt(this.base + offset, length, what);
      throw error;
    }
  }

  /**
   * Closes a client's mapping but leaves its addresses reserved and guarded, so a view kept past the
   * client's close() faults, explained, instead of reading whatever the runtime maps there next; for the
   * most recent closes only (./retired.ts), not to run out of address space. Nothing is resident.
   */
  retire(): void {
    if (this.closed) return;
    this.closed = true;
    this.zeroWindows.length = 0;
    closeFd(this.fd);
    reserveAt(this.base, this.size, `${this.source} (closed)`);
    keepRetired(this.base, this.size, this.source);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    nativeFaultGuard()?.unguard(this.base);
    this.zeroWindows.length = 0;
    unmap(this.base, this.size, this.source);
    closeFd(this.fd);
  }

  private checkRange(offset: number, length: number): void {
    // A view made after close would point at unmapped memory: the process would die, not throw.
    if (this.closed)
      throw failure("InvalidArgument", `address ${offset}+${length}`, `the region ${this.source} is closed`);
    if (offset < 0 || length < 0 || offset + length > this.size)
      throw failure(
        "InvalidArgument",
        `address ${offset}+${length}`,
        `it lies outside the ${this.size}-byte region`,
      );
  }
}

/** Maps an existing region file (host) or PCI resource file (guest) read-write, whole. */
export function mapRegionFile(path: string): MappedRegion {
  return openAndMap(
    path,
    (fd, size) => new MappedRegion(mapShared(fd, size, PROT_READ | PROT_WRITE, path), size, path, fd),
  );
}

/**
 * A client's view of the same: its whole size reserved and the header page mapped read-write;
 * `syncWords` maps the slots once the geometry is known, a grant its blocks. Mapping the whole file and
 * withdrawing its blocks again cost 5–8 ms of every guest command's start under TCG (a 256 MiB BAR; 1.5–3
 * ms this way), growing with the region: the kernel fills a PCI resource mapping's entries when mapped.
 */
export function mapRegionHeader(path: string): MappedRegion {
  return openAndMap(path, (fd, size) => {
    const base = reserve(size, path);
    try {
      mapSharedAt(base, PAGE_SIZE, PROT_READ | PROT_WRITE, fd, 0, path);
    } catch (error) {
      unmap(base, size, path);
      throw error;
    }
    return new MappedRegion(base, size, path, fd, PAGE_SIZE);
  });
}

function openAndMap(path: string, map: (fd: number, size: number) => MappedRegion): MappedRegion {
  const fd = openRegionReadWrite(path);
  try {
    const size = fileSize(fd, path);
    // A file this small is a wrong path rather than a damaged region: say where the right one is named.
    if (size < PAGE_SIZE)
      throw failure(
        "RegionInvalid",
        `map ${path}`,
        `it is ${size} bytes, too small to hold an ivsh region: \`ivsh status\` names the region the arbiter serves; pass that as --region (IVSH_REGION${libraryForm(", or connect({ region })")})`,
      );
    return map(fd, size);
  } catch (error) {
    closeFd(fd);
    throw error;
  }
}

/**
 * Opens a region file or a device's resource file read-write; a refusal says what to change. Exported
 * for the guest's mapping probe, which opens the device's resource files first.
 */
export function openRegionReadWrite(path: string): number {
  try {
    return openFile(path, O_RDWR);
  } catch (error) {
    const errno = error instanceof SystemCallError ? error.errnoName : "";
    const action = `map the region ${path}`;
    if (errno === "EACCES") throw failure("PermissionDenied", action, whyRefused(path));
    if (errno === "EISDIR") throw failure("RegionInvalid", action, IS_A_DIRECTORY);
    if (errno === "EROFS") throw failure("PermissionDenied", action, readOnlyRegion(path));
    if (errno === "EPERM") refuseFlagged(path, action, "ask the arbiter's operator");
    const exhausted = outOfDescriptors(errno);
    if (exhausted) throw failure("SystemCall", action, `${exhausted.why}: ${exhausted.hint}`);
    throw error;
  }
}

const IS_A_DIRECTORY = "it is a directory (--region names a file, e.g. /dev/shm/ivsh)";
/** What a --region that is not a regular file is, in words. */
const FILE_TYPE_NAMES: Record<string, string> = {
  "char-device": "character device",
  pipe: "named pipe (FIFO)",
  socket: "socket",
  other: "special file (a block device?)",
};

/** The region file, created if absent; a missing directory or a refusal is named with what to do. */
function openRegionFile(path: string): number {
  try {
    return openFile(path, O_RDWR | O_CREAT, 0o660);
  } catch (error) {
    const errno = error instanceof SystemCallError ? error.errnoName : "";
    if (errno === "ENOENT")
      throw failure(
        "NotFound",
        `create the region ${path}`,
        "its directory does not exist (--region names a file in an existing directory)",
      );
    if (errno === "EACCES") throw failure("PermissionDenied", `open the region ${path}`, whyRefused(path));
    if (errno === "EROFS") throw failure("PermissionDenied", `open the region ${path}`, readOnlyRegion(path));
    if (errno === "EISDIR") throw failure("RegionInvalid", `open the region ${path}`, IS_A_DIRECTORY);
    if (errno === "EPERM") refuseFlagged(path, `open the region ${path}`, "pass another --region");
    throw error;
  }
}

/**
 * Opens the arbiter's region file, creating it at `size` bytes if it does not exist, and locks it for as
 * long as this process lives, so two arbiters can never serve one region. An existing file of another
 * size is refused rather than resized: VMs may be mapping it. So is a region its file system has no room
 * for (./region-file.ts).
 */
export function createOrOpenRegionFile(
  path: string,
  size: number,
): { region: MappedRegion; created: boolean } {
  const existed = existsSync(path);
  const fd = openRegionFile(path);
  let locked = false;
  try {
    // A device or a pipe opens like a file and reads as 0 bytes: sizing it failed with a bare EINVAL.
    const { type } = fileStatus(fd, path);
    if (type !== "file")
      throw failure(
        "RegionInvalid",
        `serve ${path}`,
        `it is a ${FILE_TYPE_NAMES[type] ?? type}, not a regular file (--region names a file, e.g. /dev/shm/ivsh)`,
      );
    // 0660 whatever the umask (022 would leave the group, QEMU's, read-only), as the socket is; a file the
    // operator made keeps the mode it was given.
    if (!existed) changeMode(fd, 0o660, path);
    if (!tryLockExclusive(fd, path))
      throw failure(
        "ArbiterRunning",
        `serve ${path}`,
        `another arbiter${lockHolder(path)} is serving this region (stop it first)`,
      );
    locked = true;
    const existing = fileSize(fd, path);
    if (existing !== 0 && existing !== size)
      throw failure(
        "RegionInvalid",
        `use ${path} as a ${formatBytes(size)} region`,
        `the file is already ${formatBytes(existing)}${otherSizeAdvice(existing, size)}`,
      );
    checkRoomFor(fd, path, size);
    if (existing === 0) sizeRegionFile(fd, path, size);
    const base = mapShared(fd, size, PROT_READ | PROT_WRITE, path);
    return { region: new MappedRegion(base, size, path, fd), created: existing === 0 };
  } catch (error) {
    // One this call made is removed while still locked (no other arbiter can be using it): a 1 TiB file
    // refused for want of room must not stay behind in /dev/shm.
    const told = !existed && locked ? removeMadeFile(path, error) : error;
    closeFd(fd);
    throw told;
  }
}
