/**
 * What the arbiter checks about a region file before it formats or sizes it: that its file system can
 * hold it, and that an existing file is an ivsh region or empty, never someone's data; whether it lives in
 * memory; and, for anyone refused the file, why.
 */
import {
  accessSync,
  closeSync,
  constants,
  fstatSync,
  openSync,
  readFileSync,
  readSync,
  realpathSync,
  statfsSync,
  statSync,
} from "node:fs";
import { dirname } from "node:path";
import { groupName, userName } from "../accounts.ts";
import { failure } from "../errors.ts";
import { flaggedDirectoryRefusal, flaggedRefusal } from "../ffi/file-flags.ts";
import { residentPages, tryLockShared } from "../ffi/index.ts";
import { formatBytes } from "../units.ts";
import { LAYOUT_MAGIC, PAGE_SIZE } from "./layout.ts";

export const TMPFS_MAGIC = 0x01021994;
/** sysfs, where a guest maps its device's resource2: a file of no blocks, on a file system of none free. */
const SYSFS_MAGIC = 0x62656572;
/** File systems whose files are memory: tmpfs (/dev/shm), hugetlbfs, ramfs. */
const MEMORY_FILE_SYSTEMS = new Set([TMPFS_MAGIC, 0x958458f6, 0x858458f6]);
/** Names for the file systems a region is most likely put on by mistake (statfs gives a number). */
const FILE_SYSTEM_NAMES: Record<number, string> = {
  0xef53: "ext2/ext3/ext4",
  0x58465342: "xfs",
  0x9123683e: "btrfs",
  0x794c7630: "overlayfs",
  0x6969: "nfs",
  0x2fc12fc1: "zfs",
  0xf2f52010: "f2fs",
  0x65735546: "fuse",
  0x4d44: "vfat",
};

/**
 * A warning for a region file on a disk file system, or undefined when it is memory (tmpfs, hugetlbfs,
 * a DAX character device) or cannot be told. It works there, but every page the guests write is written
 * back to disk, and the region's contents outlive the arbiter in that file.
 */
export function diskRegionWarning(path: string): string | undefined {
  let type: number | undefined;
  try {
    if (statSync(path).isCharacterDevice()) return undefined;
    type = fileSystemType(path);
  } catch {
    return undefined;
  }
  if (type === undefined || MEMORY_FILE_SYSTEMS.has(type)) return undefined;
  const name = FILE_SYSTEM_NAMES[type] ?? `type 0x${type.toString(16)}`;
  return (
    `--region ${path} is on a disk file system (${name}), not in memory (tmpfs, hugetlbfs, a DAX device): ` +
    "every page written to the region is written back to disk, and its contents stay in that file; " +
    "put it in /dev/shm (e.g. --region /dev/shm/ivsh) unless that is what you want"
  );
}

/** Whether `path` is on tmpfs (RAM), directly or as an overlay's upper layer; false if it cannot be told. */
export function isTmpfsPath(path: string): boolean {
  return fileSystemType(path) === TMPFS_MAGIC;
}

const OVERLAYFS_MAGIC = 0x794c7630;

/**
 * The statfs type of the file system that holds `path`'s data; undefined if it cannot be told. An
 * overlay's file that is written lives in its upper layer (a copy-up, or created there): an overlay over
 * tmpfs is memory, and was called "a disk file system (overlayfs)" and not tmpfs. Its upper layer is
 * found in /proc/self/mountinfo; one not visible here (a container's root, set up by its runtime) cannot
 * be told.
 */
function fileSystemType(path: string): number | undefined {
  try {
    const { type } = statfsSync(path);
    if (type !== OVERLAYFS_MAGIC) return type;
    const upper = overlayUpperDir(realpathSync(path));
    return upper === undefined ? undefined : statfsSync(upper).type;
  } catch {
    return undefined;
  }
}

/** The upperdir of the overlay mount `real` (a resolved path) is on, if the mount table says. */
function overlayUpperDir(real: string): string | undefined {
  const unescaped = (text: string) =>
    text.replace(/\\([0-7]{3})/g, (_, octal) => String.fromCharCode(parseInt(octal, 8)));
  let best: { point: string; fsType: string; options: string } | undefined;
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const [before, after] = line.split(" - ");
    const point = unescaped(before?.split(" ")[4] ?? "");
    const [fsType = "", , options = ""] = (after ?? "").split(" ");
    const holds = point === "/" || real === point || real.startsWith(`${point}/`);
    // The last mount of the longest point wins: a later mount on the same point hides an earlier one.
    if (point && holds && (!best || point.length >= best.point.length)) best = { point, fsType, options };
  }
  if (best?.fsType !== "overlay") return undefined;
  const upper = /(?:^|,)upperdir=([^,]*)/.exec(best.options)?.[1];
  return upper === undefined ? undefined : unescaped(upper);
}

/** Bytes read at a time when looking for data in a file that is not a region. */
const SCAN_BYTES = 1 << 20;

/**
 * Refuses a region whose file system cannot hold what the file does not hold yet: tmpfs accepts a sparse
 * file of any size, and the first touch of a page past its free space kills a client with SIGBUS (Docker
 * gives /dev/shm 64 MiB; the default region is 256 MiB). `fd` is the region file, already `size` bytes or
 * about to be made so.
 */
export function checkRoomFor(fd: number, path: string, size: number): void {
  const allocated = fstatSync(fd).blocks * 512;
  const needed = Math.max(0, size - allocated);
  const { bavail, bsize } = statfsSync(path);
  const free = bavail * bsize;
  if (needed <= free) return;
  // A region a page or two short rounds to the figure it has ("needs 7.93 MiB more ... only 7.93 MiB"):
  // the bytes then say by how much.
  const exact = formatBytes(needed) === formatBytes(free);
  const [need, have] = [needed, free].map((bytes) => formatBytes(bytes) + (exact ? ` (${bytes} bytes)` : ""));
  throw failure(
    "NoSpace",
    `use ${path} as a ${formatBytes(size)} region`,
    `the region needs ${need} more but its file system at ${dirname(path)} has only ${have} free; pass a smaller --size or free space there`,
  );
}

/**
 * Refuses to format a file that holds neither an ivsh header nor only zeros (a file QEMU or `truncate`
 * just made): that is someone's data, which a format would overwrite. Reads the header's magic, then only
 * the file's data: a file without blocks is all holes; on tmpfs, where mincore sees every page a file
 * has in memory, only those pages when they account for all its blocks; else the whole file, stopping at
 * the first byte that is not zero. Reads with read(2), which (unlike a touch of the mapping) allocates no
 * page for a hole.
 */
export function refuseForeignContents(path: string, base: number, size: number, tmpfs: boolean): void {
  const fd = openSync(path, "r");
  try {
    const head = Buffer.alloc(4);
    if (readSync(fd, head, 0, 4, 0) === 4 && head.readUInt32LE(0) === LAYOUT_MAGIC) return;
    const allocated = fstatSync(fd).blocks * 512;
    if (allocated === 0) return;
    const at = firstDataAt(fd, candidateRanges(base, size, tmpfs, allocated));
    if (at === undefined) return;
    throw failure(
      "RegionInvalid",
      `use ${path} as a region`,
      `it is not an ivsh region (no ivsh header, and byte ${at} is not zero), so formatting it would destroy its data; remove it if it is garbage, or pass another --region`,
    );
  } finally {
    closeSync(fd);
  }
}

/** The [start, end) ranges that may hold data. */
function candidateRanges(base: number, size: number, tmpfs: boolean, allocated: number): [number, number][] {
  const resident = tmpfs ? residentPages(base, size) : undefined;
  if (!resident) return [[0, size]];
  const ranges: [number, number][] = [];
  let inMemory = 0;
  for (let page = 0; page < resident.length; page++) {
    if ((resident[page]! & 1) === 0) continue;
    inMemory += PAGE_SIZE;
    const last = ranges.at(-1);
    if (last && last[1] === page * PAGE_SIZE) last[1] += PAGE_SIZE;
    else ranges.push([page * PAGE_SIZE, (page + 1) * PAGE_SIZE]);
  }
  // Pages swapped out are not in memory: then mincore does not see them all, and everything is read.
  return inMemory >= allocated ? ranges : [[0, size]];
}

/** The offset of the first byte that is not zero in `ranges`, if any. */
function firstDataAt(fd: number, ranges: [number, number][]): number | undefined {
  const [buffer, zeros] = [Buffer.alloc(SCAN_BYTES), Buffer.alloc(SCAN_BYTES)];
  for (const [start, end] of ranges)
    for (let at = start; at < end; ) {
      const got = readSync(fd, buffer, 0, Math.min(SCAN_BYTES, end - at), at);
      if (got === 0) break;
      // Compared a chunk at a time (memcmp); only a chunk with data is searched byte by byte.
      if (!buffer.subarray(0, got).equals(zeros.subarray(0, got)))
        return at + buffer.findIndex((byte) => byte !== 0);
      at += got;
    }
  return undefined;
}

/**
 * Why a region file could not be opened for writing: its file system is read-only, as every directory but
 * a unit's own and its ReadWritePaths= is under systemd's ProtectSystem=strict (contrib/systemd); for a
 * client too, whose unit may be so. A guest's device file is in sysfs, which ProtectSystem= leaves
 * writable and ProtectKernelTunables= does not.
 */
export function readOnlyRegion(path: string): string {
  const directory = dirname(path);
  if (PCI_RESOURCE_FILE.test(path))
    return `${directory} is on a read-only file system (EROFS): /sys is under a systemd unit with ProtectKernelTunables= and in most containers; run ivsh where the device's file opens read-write`;
  return `${directory} is on a read-only file system (EROFS): keep the region in /dev/shm, or, under a systemd unit with ProtectSystem=, add ${directory} to its ReadWritePaths=`;
}

/**
 * A PCI device's BAR file in sysfs, under its address (/sys/bus/pci/devices/0000:00:04.0/resource2, or
 * /sys/devices/pci0000:00/.../0000:01:00.0/resource2_wc): root's alone (0600) after every boot.
 */
const PCI_RESOURCE_FILE = /\/[0-9a-f]{4,}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]\/resource\d+(_wc)?$/i;

/**
 * Why open(2) said EACCES, from what the file says about itself: "run as its owner" is no help to the
 * owner of a file without write permission, to a member of a group that lacks it, nor to a user who may
 * not create files in the directory; and a chmod of a sysfs file lasts only until the next boot.
 */
export function whyRefused(path: string): string {
  const uid = process.getuid?.() ?? -1;
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(path);
  } catch {
    return `this user (uid ${uid}) may not create files in ${dirname(path)} (choose another --region, or run as a user who may)`;
  }
  const mode = (stats.mode & 0o777).toString(8).padStart(4, "0");
  return `this user (uid ${uid}) may not read and write it: it is mode ${mode}, owner ${userName(stats.uid)}, group ${groupName(stats.gid)} (${accessFix(path, stats, uid)})`;
}

function accessFix(path: string, stats: { uid: number; gid: number; mode: number }, uid: number): string {
  const ownerMay = (stats.mode & 0o600) === 0o600;
  const groupMay = (stats.mode & 0o060) === 0o060;
  // The mode allows it, so an ACL or a security module refused: chmod would change nothing.
  const elsewhere =
    "its mode allows it, so an ACL or a security module refuses (see getfacl, and the audit log)";
  const inGroup = stats.gid === process.getegid?.() || process.getgroups?.().includes(stats.gid);
  if (stats.uid === uid) return ownerMay ? elsewhere : "give its owner read and write permission: chmod u+rw";
  if (inGroup)
    return groupMay
      ? elsewhere
      : "this user is in its group: give the group read and write permission (chmod g+rw), or run as its owner";
  if (groupMay) return `join its group, ${groupName(stats.gid)} (e.g. usermod -aG), or run as its owner`;
  if (PCI_RESOURCE_FILE.test(path))
    return (
      "the kernel gives a PCI device's resource files to root alone: run as root, or have a udev rule " +
      'open it to a group at each boot, e.g. ACTION=="add", SUBSYSTEM=="pci", ATTR{vendor}=="0x1af4", ' +
      'ATTR{device}=="0x1110", RUN+="/bin/sh -c \'chgrp ivsh /sys%p/resource2* && chmod g+rw /sys%p/resource2*\'", ' +
      "and join that group"
    );
  return "run as its owner or a member of its group with read and write permission, or ask its owner";
}

/**
 * Refuses a region that is, or whose directory is, flagged immutable or append-only, naming the flag: the
 * EPERM that root meets too, which no mode or owner explains.
 */
export function refuseFlagged(path: string, action: string, instead: string): void {
  const flagged = flaggedRefusal(path, instead) ?? flaggedDirectoryRefusal(path, instead);
  if (flagged) throw failure("PermissionDenied", action, flagged);
}

/**
 * Why a whole region file's pages cannot be made: its file system (a tmpfs another file filled after the
 * arbiter started) has no room for what the file does not hold yet. Undefined when the file is not whole
 * (truncated, removed), has room, or is a guest's device (sysfs's resource2: no blocks, on a file system with
 * none free, though nothing there is full).
 */
export function fullFileSystem(path: string, size: number): string | undefined {
  try {
    const stats = statSync(path);
    if (!stats.isFile() || stats.size < size) return undefined;
    const lacking = size - stats.blocks * 512;
    const { bavail, bsize, type } = statfsSync(path);
    if (type === SYSFS_MAGIC || lacking <= 0 || bavail * bsize >= lacking) return undefined;
    return (
      `its file system at ${dirname(path)} is full (${formatBytes(bavail * bsize)} free; the region's file ` +
      `lacks ${formatBytes(lacking)}, filled since the arbiter started): free space there, then run this again`
    );
  } catch {
    return undefined;
  }
}

/** A file the arbiter keeps beside its region (the wake-up file, the state journal) and the least it takes. */
export interface FileBeside {
  path: string;
  /** What it is, for the refusal ("its state journal"). */
  what: string;
  /** Bytes it takes once the arbiter runs, at least (it may hold more already). */
  least: number;
}

/**
 * Refuses a region whose file system holds the region but not also the files kept beside it there: each takes
 * pages the region's holes need. Sized to the file system's free space, a region served, then its journal
 * on the same tmpfs took some, and its restart with the same flags was refused (checkRoomFor) with no word of
 * why. A region that does not fit alone while those files hold nothing yet is left to checkRoomFor.
 * `advice` says what to do, given the files that are on the region's file system.
 */
export function checkRoomBeside(
  regionPath: string,
  size: number,
  files: FileBeside[],
  advice: (there: FileBeside[]) => string,
): void {
  const region = statSync(regionPath, { throwIfNoEntry: false });
  if (region && !region.isFile()) return; // refused as no regular file when opened
  // Refused when opened as of another size, naming the --size it takes (a restart's mistyped --size).
  if (region && region.size !== 0 && region.size !== size) return;
  // Refused as served by another arbiter when opened (its lock held; false if that cannot be told).
  if (region && heldByAnyone(regionPath) === true) return;
  try {
    accessSync(region ? regionPath : dirname(regionPath), constants.W_OK);
  } catch {
    return; // refused when opened, with its reason (EROFS, EACCES)
  }
  const device = (region ?? statSync(dirname(regionPath))).dev;
  const missing = Math.max(0, size - (region?.blocks ?? 0) * 512);
  const shares = files.flatMap((file) => {
    const stats = statSync(file.path, { throwIfNoEntry: false });
    if ((stats ?? statSync(dirname(file.path), { throwIfNoEntry: false }))?.dev !== device) return [];
    const holds = (stats?.blocks ?? 0) * 512;
    return [{ ...file, holds, wants: Math.max(0, file.least - holds) }];
  });
  const { bavail, bsize } = statfsSync(region ? regionPath : dirname(regionPath)); // a link's target's
  const free = bavail * bsize;
  const holds = shares.reduce((sum, share) => sum + share.holds, 0);
  const wants = shares.reduce((sum, share) => sum + share.wants, 0);
  if (missing + wants <= free || (missing > free && holds === 0)) return;
  throw failure(
    "NoSpace",
    `use ${regionPath} as a ${formatBytes(size)} region`,
    `${roomShort(regionPath, missing, free, shares)}; ${advice(shares)}`,
  );
}

/** Why the region and the files beside it do not fit (`shares`: those on its file system). */
function roomShort(
  regionPath: string,
  missing: number,
  free: number,
  shares: (FileBeside & { holds: number; wants: number })[],
): string {
  const items = shares
    .map((share) => `${share.what} ${share.path}: ${formatBytes(Math.max(share.holds, share.least))}`)
    .join(", ");
  const room = `its file system at ${dirname(regionPath)} has only ${formatBytes(free)} free`;
  // All the region's pages taken already: "the region needs 0 B more, but ... only 0 B free" said nothing.
  if (missing === 0) {
    const wants = shares.reduce((sum, share) => sum + share.wants, 0);
    return `the arbiter's files beside it need ${formatBytes(wants)} more there (${items}), but ${room}`;
  }
  return `the region needs ${formatBytes(missing)} more, but ${room}, and the arbiter's files beside it there need room too (${items})`;
}

/**
 * Whether a process (this one included) holds the file at `path` exclusively: a shared lock tried on a
 * descriptor of its own, at once let go (shared, so that two arbiters looking at once do not see each
 * other's look). Undefined if it cannot be tried: no file, no permission to open it, no flock there.
 */
export function heldByAnyone(path: string): boolean | undefined {
  let fd: number;
  try {
    // Not waiting for a writer, were it a pipe.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    return !tryLockShared(fd, path);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
