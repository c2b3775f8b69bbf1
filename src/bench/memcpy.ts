/**
 * Single-core memcpy bandwidth: the ceiling every transfer is compared to. A transfer through shared
 * memory needs at least one copy per byte, so no channel can beat one core's libc memcpy between two
 * buffers of the same size.
 *
 * Rates count bytes copied (not bytes read plus written), the way transfer rates are counted.
 */
import { copyMemory } from "../ffi/index.ts";
import { anonymousMapping, MiB, requirePositiveInteger, timeSeconds, touch, withMapping } from "./memory.ts";
import { type Summary, summarizeRates } from "./stats.ts";

export interface MemcpyOptions {
  /** Size of the source and of the destination buffer. */
  readonly bytes?: number;
  /** Timed samples; the summary is over these. */
  readonly repeats?: number;
  /**
   * Bytes copied per sample, as repeated copies of `bytes`. Small buffers need many copies per sample so
   * one sample lasts long enough for the clock (a 1 MiB copy takes tens of microseconds).
   */
  readonly bytesPerSample?: number;
}

export interface MemcpyMeasurement {
  readonly bytes: number;
  readonly copiesPerSample: number;
  /** Bytes copied per second, over the samples. */
  readonly rate: Summary;
}

/** Large enough to defeat every cache level of current CPUs, small enough for a 2-core, 24 GiB machine. */
export const LARGE_COPY_BYTES = 256 * MiB;
/** Fits in L2 or L3 everywhere, so it shows the in-cache ceiling (what small blocks can reach). */
export const IN_CACHE_COPY_BYTES = 1 * MiB;

const DEFAULT_REPEATS = 5;

/** memcpy between two large anonymous mappings: main-memory bandwidth of one core. */
export function measureMemcpy(options: MemcpyOptions = {}): MemcpyMeasurement {
  const bytes = options.bytes ?? LARGE_COPY_BYTES;
  return measureCopies(bytes, options.repeats ?? DEFAULT_REPEATS, options.bytesPerSample ?? bytes);
}

/** memcpy of a buffer that stays in cache: the ceiling for block sizes that fit there. */
export function measureMemcpyInCache(options: MemcpyOptions = {}): MemcpyMeasurement {
  const bytes = options.bytes ?? IN_CACHE_COPY_BYTES;
  return measureCopies(bytes, options.repeats ?? DEFAULT_REPEATS, options.bytesPerSample ?? LARGE_COPY_BYTES);
}

function measureCopies(bytes: number, repeats: number, bytesPerSample: number): MemcpyMeasurement {
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
