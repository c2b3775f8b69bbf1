/**
 * Memory access times of one mapping (Fig. 4b of the report): sequential read bandwidth, sequential
 * write bandwidth and the latency of dependent random 8-byte loads. It takes a bare address and length so
 * the same code measures the ivsh region, anonymous memory, a mapped file, and in a guest the PCI BAR
 * mapped through resource2 (uncached) and resource2_wc (write-combining).
 *
 * The measurement overwrites the whole mapping: never point it at memory that holds data.
 */
import { failure } from "../errors.ts";
import { viewOf } from "../ffi/index.ts";
import { forEachChunk, requirePositiveInteger, timeWarm, touch } from "./memory.ts";

export interface AccessOptions {
  /**
   * Nodes of the pointer chase; each sits on its own cache line, spread evenly over the mapping so the
   * chase touches all of it. Fewer nodes than cache lines keeps building the chase cheap on huge regions.
   */
  readonly latencyNodes?: number;
  /** Dependent loads per latency sample. */
  readonly latencySteps?: number;
}

/** One sample of each: a timed pass after an untimed one that warms the TLB and the code path. */
export interface AccessMeasurement {
  /** Sequential read and write bandwidth, bytes/s. */
  readonly read: number;
  readonly write: number;
  /**
   * Nanoseconds per dependent random 8-byte load: the mean over `latencySteps` loads (timing single loads
   * would measure the clock, not the memory). It includes a few ns of JS loop overhead per load, which
   * matters only for in-cache sizes.
   */
  readonly latency: number;
  readonly latencyNodes: number;
}

const DEFAULT_LATENCY_NODES = 1 << 16;
const DEFAULT_LATENCY_STEPS = 1 << 20;
const CACHE_LINE = 64;
const SLOT_BYTES = Float64Array.BYTES_PER_ELEMENT;

/**
 * Results of the read pass land here. A native call is never removed by the JIT, but keeping its result
 * reachable makes that independent of engine details.
 */
let readSink = 0n;

export function measureAccess(
  address: number,
  length: number,
  options: AccessOptions = {},
): AccessMeasurement {
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

/**
 * Stores only: `fill` on a Uint8Array is a native memset (about the same speed as glibc's), so nothing
 * is read from the mapping and no source buffer competes for the cache.
 */
function writePass(address: number, length: number): void {
  let value = 0;
  forEachChunk(address, length, (view) => view.fill(++value & 0xff));
}

/**
 * Loads only: xxHash3 is native, vectorised and reads every byte once. It runs at ~60 GB/s in cache here,
 * roughly twice main-memory speed, so on a large mapping the memory is the bottleneck, not the hash. The
 * alternative, memcpy into a small scratch buffer, adds a store stream that would be measured too.
 */
function readPass(address: number, length: number): void {
  forEachChunk(address, length, (view) => {
    readSink ^= Bun.hash.xxHash3(view);
  });
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

/**
 * Makes node k (at slot k * stride) hold the slot of the next node, in one random cycle through all
 * nodes (Sattolo's shuffle), so every load depends on the one before and no prefetcher can guess it.
 */
function linkRandomCycle(slots: Float64Array, nodes: number, stride: number): void {
  const order = new Int32Array(nodes);
  for (let node = 0; node < nodes; node++) order[node] = node;
  for (let last = nodes - 1; last > 0; last--) {
    const pick = Math.floor(Math.random() * last);
    const kept = order[last]!;
    order[last] = order[pick]!;
    order[pick] = kept;
  }
  for (let node = 0; node < nodes; node++) slots[node * stride] = order[node]! * stride;
}

/** 8-byte loads as float64: BigInt64Array would allocate a BigInt per load and time the allocator. */
function chaseFrom(slots: Float64Array, start: number, steps: number): number {
  let slot = start;
  for (let step = 0; step < steps; step++) slot = slots[slot]!;
  return slot;
}

/** The accumulated read checksum; exported only so the read pass has an observable result. */
export function readChecksum(): bigint {
  return readSink;
}
