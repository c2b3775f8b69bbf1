/**
 * The memory the micro-benchmarks run on, and the few helpers they share: scratch mappings that are
 * released even when a measurement throws, chunked views, page touching and a monotonic stopwatch.
 */
import { unlinkSync } from "node:fs";
import { failure } from "../errors.ts";
import {
  closeFd,
  mapAnonymous,
  mapShared,
  O_CREAT,
  O_RDWR,
  O_TRUNC,
  openFile,
  PROT_READ,
  PROT_WRITE,
  truncateFd,
  unmap,
  viewOf,
} from "../ffi/index.ts";

export const MiB = 1024 * 1024;

/**
 * Views are taken per chunk because a single JS typed array over a multi-GiB region is close to the
 * engine's ArrayBuffer limits, and per-chunk native calls cost nothing measurable at this size.
 */
const VIEW_CHUNK = 64 * MiB;

/** Memory to measure: any mapping, described by where it is and what it is. */
export interface Mapping {
  readonly address: number;
  readonly length: number;
  /** What the memory is, for tables: "anonymous", "file /tmp/x", "ivsh region". */
  readonly label: string;
  release(): void;
}

export function anonymousMapping(length: number, label = "anonymous"): Mapping {
  requirePositiveInteger(length, "map anonymous memory", "length");
  const address = mapAnonymous(length);
  return { address, length, label, release: () => unmap(address, length, label) };
}

/**
 * A file mapped MAP_SHARED, the paper's "mmapped file on disk". Its pages live in the page cache, so
 * this measures the cache (as the paper did, without msync), not the device under it. The file is
 * removed on release.
 */
export function fileMapping(path: string, length: number): Mapping {
  requirePositiveInteger(length, `map ${path}`, "length");
  const fd = openFile(path, O_RDWR | O_CREAT | O_TRUNC);
  try {
    truncateFd(fd, length, path);
    const address = mapShared(fd, length, PROT_READ | PROT_WRITE, path);
    const release = () => {
      unmap(address, length, path);
      closeFd(fd);
      unlinkSync(path);
    };
    return { address, length, label: `file ${path}`, release };
  } catch (error) {
    closeFd(fd);
    unlinkSync(path);
    throw error;
  }
}

/** Runs `use` on a mapping and releases it afterwards, also when `use` throws. */
export function withMapping<T>(mapping: Mapping, use: (mapping: Mapping) => T): T {
  try {
    return use(mapping);
  } finally {
    mapping.release();
  }
}

/** Calls `visit` with consecutive byte views covering [address, address + length). */
export function forEachChunk(address: number, length: number, visit: (view: Uint8Array) => void): void {
  for (let offset = 0; offset < length; offset += VIEW_CHUNK) {
    const size = Math.min(VIEW_CHUNK, length - offset);
    visit(new Uint8Array(viewOf(address + offset, size)));
  }
}

/**
 * Writes every byte so each page is faulted in (and backed by its own frame, not the shared zero page)
 * before anything is timed. A non-zero value keeps the kernel from deduplicating it as zero pages.
 */
export function touch(address: number, length: number, value = 0x5a): void {
  forEachChunk(address, length, (view) => view.fill(value));
}

/** Seconds taken by `run`, from the monotonic nanosecond clock. */
export function timeSeconds(run: () => void): number {
  const started = Bun.nanoseconds();
  run();
  return (Bun.nanoseconds() - started) / 1e9;
}

/** Seconds of one `run` after an untimed one, which settles lazy costs: first calls, TLB and cache state. */
export function timeWarm(run: () => void): number {
  run();
  return timeSeconds(run);
}

export function requirePositiveInteger(value: number, action: string, what: string): void {
  if (!Number.isSafeInteger(value) || value <= 0)
    throw failure("InvalidArgument", action, `${what} ${value} is not a positive whole number`);
}
