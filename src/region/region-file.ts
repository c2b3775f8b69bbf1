/**
 * What the arbiter checks about a region file before it formats or sizes it: that its file system can
 * hold it, and that an existing file is an ivsh region or empty, never someone's data.
 */
import { closeSync, fstatSync, openSync, readSync, statfsSync } from "node:fs";
import { dirname } from "node:path";
import { failure } from "../errors.ts";
import { residentPages } from "../ffi/index.ts";
import { formatBytes } from "../units.ts";
import { LAYOUT_MAGIC, PAGE_SIZE } from "./layout.ts";

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
  throw failure(
    "NoSpace",
    `use ${path} as a ${formatBytes(size)} region`,
    `the region needs ${formatBytes(needed)} more but its file system at ${dirname(path)} has only ${formatBytes(free)} free; pass a smaller --size or free space there`,
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
