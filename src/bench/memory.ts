/** Micro-benchmarks: single-core memcpy (every transfer's ceiling), a mapping's access times (Fig. 4b). */
import { unlinkSync } from "node:fs";
import { failure } from "../errors.ts";
import {
  closeFd,
  copyMemory,
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
import { summarizeRates } from "./stats.ts";

export const MiB = 1024 * 1024;

/** A single typed array over a multi-GiB region is close to the engine's ArrayBuffer limits: views per chunk. */
const VIEW_CHUNK = 64 * MiB;

/** Memory to measure: any mapping, and what it is ("anonymous", "file /tmp/x", "ivsh region"). */
export interface Mapping {
  readonly address: number;
  readonly length: number;
  readonly label: string;
  release(): void;
}

export function anonymousMapping(length: number, label = "anonymous"): Mapping {
  requirePositiveInteger(length, "map anonymous memory", "length");
  const address = mapAnonymous(length);
  return { address, length, label, release: () => unmap(address, length, label) };
}

/** The paper's "mmapped file on disk" (MAP_SHARED, no msync: the page cache), removed on release. */
export function fileMapping(path: string, length: number): Mapping {
  requirePositiveInteger(length, `map ${path}`, "length");
  const fd = openFile(path, O_RDWR | O_CREAT | O_TRUNC);
  const close = () => {
    closeFd(fd);
    unlinkSync(path);
  };
  try {
    truncateFd(fd, length, path);
    const address = mapShared(fd, length, PROT_READ | PROT_WRITE, path);
    const release = () => {
      unmap(address, length, path);
      close();
    };
    return { address, length, label: `file ${path}`, release };
  } catch (error) {
    close();
    throw error;
  }
}

export function withMapping<T>(mapping: Mapping, use: (mapping: Mapping) => T): T {
  try {
    return use(mapping);
  } finally {
    mapping.release();
  }
}

function forEachChunk(address: number, length: number, visit: (view: Uint8Array) => void): void {
  for (let offset = 0; offset < length; offset += VIEW_CHUNK)
    visit(new Uint8Array(viewOf(address + offset, Math.min(VIEW_CHUNK, length - offset))));
}

/** Faults every page in, with its own frame (non-zero: not the shared zero page), before any timing. */
function touch(address: number, length: number, value = 0x5a): void {
  forEachChunk(address, length, (view) => view.fill(value));
}

function timeSeconds(run: () => void): number {
  const started = Bun.nanoseconds();
  run();
  return (Bun.nanoseconds() - started) / 1e9;
}

/** Seconds of one `run` after an untimed one, which settles lazy costs: first calls, TLB and cache state. */
function timeWarm(run: () => void): number {
  run();
  return timeSeconds(run);
}

export function requirePositiveInteger(value: number, action: string, what: string): void {
  if (!Number.isSafeInteger(value) || value <= 0)
    throw failure("InvalidArgument", action, `${what} ${value} is not a positive whole number`);
}

export type MemcpyMeasurement = ReturnType<typeof measureMemcpy>;

/** Large enough to defeat every cache level of current CPUs, small enough for a 2-core, 24 GiB machine. */
const LARGE_COPY_BYTES = 256 * MiB;
/** Fits in L2 or L3 everywhere, so it shows the in-cache ceiling (what small blocks can reach). */
const IN_CACHE_COPY_BYTES = 1 * MiB;

/** memcpy between two anonymous mappings of `bytes`: `repeats` samples of `bytesPerSample` . */
export function measureMemcpy(options: { bytes?: number; repeats?: number; bytesPerSample?: number } = {}) {
  const { bytes = LARGE_COPY_BYTES, repeats = 5, bytesPerSample = bytes } = options;
  requirePositiveInteger(bytes, "measure memcpy", "buffer size");
  requirePositiveInteger(repeats, "measure memcpy", "repeat count");
  requirePositiveInteger(bytesPerSample, "measure memcpy", "bytes per sample");
  const copiesPerSample = Math.max(1, Math.round(bytesPerSample / bytes));
  return withMapping(anonymousMapping(bytes, "memcpy source"), (source) =>
    withMapping(anonymousMapping(bytes, "memcpy destination"), (destination) => {
      touch(source.address, bytes, 0x11);
      touch(destination.address, bytes, 0x22);
      const copyAll = () => {
        for (let copy = 0; copy < copiesPerSample; copy++)
          copyMemory(destination.address, source.address, bytes);
      };
      copyAll(); // untimed: the FFI stub's first call, TLB and cache state
      const seconds = Array.from({ length: repeats }, () => timeSeconds(copyAll));
      return { bytes, copiesPerSample, rate: summarizeRates(bytes * copiesPerSample, seconds) };
    }),
  );
}

/** memcpy of a buffer that stays in cache (the ceiling for block sizes that fit there), 256 MiB a sample. */
export function measureMemcpyInCache() {
  return measureMemcpy({ bytes: IN_CACHE_COPY_BYTES, bytesPerSample: LARGE_COPY_BYTES });
}

const DEFAULT_LATENCY_NODES = 1 << 16;
const DEFAULT_LATENCY_STEPS = 1 << 20;
const CACHE_LINE = 64;
const SLOT_BYTES = Float64Array.BYTES_PER_ELEMENT;

/**
 * Fig. 4b's access times of an address and length, overwriting all of it (never memory that holds data):
 * sequential read and write bandwidth, and ns per dependent random 8-byte load, the mean over
 * `latencySteps`, through `latencyNodes` nodes on lines of their own; each timed after an untimed pass.
 */
export function measureAccess(
  address: number,
  length: number,
  options: { readonly latencyNodes?: number; readonly latencySteps?: number } = {},
) {
  const steps = options.latencySteps ?? DEFAULT_LATENCY_STEPS;
  requirePositiveInteger(length, "measure memory access", "length");
  requirePositiveInteger(steps, "measure memory access", "latency step count");
  if (length < CACHE_LINE)
    throw failure("InvalidArgument", "measure memory access", `${length} bytes is less than a cache line`);
  const nodes = Math.min(options.latencyNodes ?? DEFAULT_LATENCY_NODES, Math.floor(length / CACHE_LINE));
  requirePositiveInteger(nodes, "measure memory access", "latency node count");
  // Fault every page in first: a mapped file or a fresh region would otherwise time page faults.
  touch(address, length);
  const write = length / timeWarm(() => writePass(address, length));
  const read = length / timeWarm(() => readPass(address, length));
  const latency = (measureLatency(address, length, nodes, steps) * 1e9) / steps;
  return { read, write, latency, latencyNodes: nodes };
}

/** Stores only: `fill` is a native memset, so nothing is read and no source buffer competes for the cache. */
function writePass(address: number, length: number): void {
  let value = 0;
  forEachChunk(address, length, (view) => view.fill(++value & 0xff));
}

/** Loads only: xxHash3 is native and twice main memory's speed in cache, and never removed by the JIT. */
function readPass(address: number, length: number): bigint {
  let checksum = 0n;
  forEachChunk(address, length, (view) => {
    checksum ^= Bun.hash.xxHash3(view);
  });
  return checksum;
}

/** Seconds for `steps` dependent loads through a random cycle over the mapping. */
function measureLatency(address: number, length: number, nodes: number, steps: number): number {
  const slots = new Float64Array(viewOf(address, Math.floor(length / SLOT_BYTES) * SLOT_BYTES));
  const stride = Math.floor(length / nodes / CACHE_LINE) * (CACHE_LINE / SLOT_BYTES);
  linkRandomCycle(slots, nodes, stride);
  return timeWarm(() => {
    const end = chaseFrom(slots, 0, steps);
    if (end % stride !== 0) throw failure("Internal", "chase pointers", `slot ${end} is not a node`);
  });
}

/** One random cycle through the nodes (Sattolo's shuffle): every load depends on the last, unguessable. */
function linkRandomCycle(slots: Float64Array, nodes: number, stride: number): void {
  const order = Int32Array.from({ length: nodes }, (_, node) => node);
  for (let last = nodes - 1; last > 0; last--) {
    const pick = Math.floor(Math.random() * last);
    [order[last], order[pick]] = [order[pick]!, order[last]!];
  }
  for (let node = 0; node < nodes; node++) slots[node * stride] = order[node]! * stride;
}

/** 8-byte loads as float64: BigInt64Array would allocate a BigInt per load and time the allocator. */
function chaseFrom(slots: Float64Array, start: number, steps: number): number {
  let slot = start;
  for (let step = 0; step < steps; step++) slot = slots[slot]!;
  return slot;
}
