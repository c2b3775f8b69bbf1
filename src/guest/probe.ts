/**
 * Choosing between the two mappings of the IVSHMEM BAR. The kernel maps `resource2` uncached and
 * `resource2_wc` write-combining; which is faster depends on the hypervisor (TCG ignores memory types,
 * KVM may honour them), so a guest measures both on the header's scratch area (`Header.probeArea`, which
 * holds nothing) and keeps the faster. Ordinary anonymous memory, timed the same way in the same process,
 * is the yardstick that says whether the chosen one is slow.
 *
 * Each timing stops after a budget even on a slow mapping, so the probe is cheap: about 20-40 ms in a TCG
 * guest, most of it start-up work (first FFI calls, JIT) that mapping the region would pay anyway.
 */
import { failure } from "../errors.ts";
import {
  closeFd,
  fileSize,
  mapAnonymous,
  mapShared,
  PROT_READ,
  PROT_WRITE,
  unmap,
  viewOf,
} from "../ffi/index.ts";
import { Header, LAYOUT_MAGIC, PAGE_SIZE, PROBE_BYTES } from "../region/layout.ts";
import { openRegionReadWrite } from "../region/mapping.ts";
import type { IvshmemDevice } from "./device.ts";
import { defaultProbeCacheDirectory, readCachedProbe, writeCachedProbe } from "./probe-cache.ts";

/** The two sysfs files that map a device's BAR 2: uncached, and write-combining. */
export type ResourceName = "resource2" | "resource2_wc";

/** Bytes per second of copying PROBE_BYTES into (write) and out of (read) one mapping. */
export interface AccessSpeed {
  writeBytesPerSecond: number;
  readBytesPerSecond: number;
}

/** One mapping of the device measured: which file, and how fast it was. */
export interface MappingSpeed extends AccessSpeed {
  resource: ResourceName;
  path: string;
}

/** What `mappingProbe()` measured of the device's mappings, and which one `connect()` uses. */
export interface MappingProbe {
  /** PCI address of the device measured. */
  device: string;
  /** The faster mapping: the one `connect()` uses unless told otherwise. */
  chosen: MappingSpeed;
  /** Every mapping measured (resource2_wc only when the kernel offers it). */
  measured: MappingSpeed[];
  /** The same copies on private anonymous memory in this process. */
  anonymous: AccessSpeed;
  /** How many times slower than anonymous memory the chosen mapping is, in its worse direction. */
  slowdown: number;
  /** `slowdown` is at least SLOW_FACTOR: the mapping is most likely uncached. */
  slow: boolean;
  /** Wall time the whole probe took (the earlier probe's, if `reused`). */
  probeMs: number;
  /** Taken from an earlier probe of this boot (./probe-cache.ts) instead of measured now. */
  reused: boolean;
}

/**
 * Cached memory copies a couple of KiB in about a microsecond even under TCG; an uncached mapping
 * is one to two orders of magnitude slower. A factor of 4 separates the two with room for noise on a
 * busy machine.
 */
const SLOW_FACTOR = 4;
/** Copies per timed trial, unless the trial runs out of TRIAL_MS first (a slow mapping). */
const TRIAL_COPIES = 128;
const TRIAL_MS = 0.5;
/**
 * Trials per mapping and direction: the first ones pay for JIT tiers and (under TCG) code translation, so
 * each mapping keeps its best trial, and the trials of all mappings are interleaved so that a burst of
 * load on the host costs every mapping alike.
 */
const MIN_TRIALS = 2;
const MAX_TRIALS = 6;
const BUDGET_MS = 8;

const probed = new Map<string, MappingProbe>();

interface Target {
  /** The first page holds an ivsh header (its magic): the probe area is scratch, not someone's data. */
  formatted: boolean;
  area: Uint8Array;
  best: AccessSpeed;
  release(): void;
}

/**
 * Measures the device's mappings once per process (later calls return the same figures), or reuses this
 * boot's verdict kept in `cacheDirectory` (by default tmpfs, for a real device) and keeps a new one there.
 * Undefined, measuring nothing and remembering nothing, while the device holds no ivsh header (no arbiter
 * has formatted its file yet, or it is another program's memory): the probe would write into its data,
 * and the arbiter then refused to format a file it took for someone's ("byte 2049 is not zero").
 */
export function probeDevice(device: IvshmemDevice, cacheDirectory?: string): MappingProbe | undefined {
  const remembered = probed.get(device.resource2);
  if (remembered) return remembered;
  cacheDirectory ??= defaultProbeCacheDirectory(device);
  const kept = cacheDirectory && readCachedProbe<MappingProbe>(cacheDirectory, device);
  if (kept) {
    probed.set(device.resource2, kept);
    return kept;
  }
  const probe = measureDevice(device);
  if (!probe) return undefined;
  probed.set(device.resource2, probe);
  if (cacheDirectory) writeCachedProbe(cacheDirectory, device, probe);
  return probe;
}

function measureDevice(device: IvshmemDevice): MappingProbe | undefined {
  const started = performance.now();
  const files: [ResourceName, string][] = [["resource2", device.resource2]];
  if (device.resource2Wc) files.push(["resource2_wc", device.resource2Wc]);
  const mapped: { resource: ResourceName; path: string; target: Target }[] = [];
  const baseline = anonymousTarget();
  try {
    for (const [resource, path] of files) {
      try {
        mapped.push({ resource, path, target: fileTarget(path) });
      } catch (error) {
        // resource2 is what the region is otherwise mapped through: its failure is the caller's error.
        // A write-combining mapping the kernel refuses is simply not a candidate.
        if (resource === "resource2") throw error;
      }
    }
    if (!mapped[0]!.target.formatted) return undefined;
    measure([...mapped.map(({ target }) => target), baseline], started);
  } finally {
    for (const { target } of mapped) target.release();
    baseline.release();
  }
  const measured = mapped.map(
    ({ resource, path, target }): MappingSpeed => ({ resource, path, ...target.best }),
  );
  const anonymous = baseline.best;
  const chosen = measured.reduce((best, next) => (copyCost(next) < copyCost(best) ? next : best));
  const slowdown = Math.max(
    anonymous.writeBytesPerSecond / chosen.writeBytesPerSecond,
    anonymous.readBytesPerSecond / chosen.readBytesPerSecond,
  );
  return {
    device: device.address,
    chosen,
    measured,
    anonymous,
    slowdown,
    slow: slowdown >= SLOW_FACTOR,
    probeMs: performance.now() - started,
    reused: false,
  };
}

/** Seconds per byte written plus per byte read: what a transfer through the mapping pays. */
function copyCost(speed: AccessSpeed): number {
  return 1 / speed.writeBytesPerSecond + 1 / speed.readBytesPerSecond;
}

function fileTarget(path: string): Target {
  const fd = openRegionReadWrite(path);
  let base: number;
  try {
    // A touch of a page the file does not reach is SIGBUS: refused as mapping the region would refuse it.
    const size = fileSize(fd, path);
    if (size < PAGE_SIZE)
      throw failure(
        "RegionInvalid",
        `map ${path}`,
        `it is ${size} bytes, too small to hold an ivsh region: back the VM's ivshmem device with the region file the arbiter serves (\`ivsh status\` on the host names it)`,
      );
    base = mapShared(fd, PAGE_SIZE, PROT_READ | PROT_WRITE, `${path} (probe)`);
  } finally {
    closeFd(fd);
  }
  return target(base, () => unmap(base, PAGE_SIZE, path));
}

function anonymousTarget(): Target {
  const base = mapAnonymous(PAGE_SIZE);
  return target(base, () => unmap(base, PAGE_SIZE, "anonymous (probe)"));
}

function target(base: number, release: () => void): Target {
  const area = new Uint8Array(viewOf(base + Header.probeArea, PROBE_BYTES));
  const formatted = new Uint32Array(viewOf(base + Header.magic, 4))[0] === LAYOUT_MAGIC;
  return { formatted, area, best: { writeBytesPerSecond: 0, readBytesPerSecond: 0 }, release };
}

/** Times copies into and out of each target's area, the same typed-array copy for every mapping. */
function measure(targets: Target[], started: number): void {
  const local = new Uint8Array(PROBE_BYTES);
  for (let index = 0; index < local.length; index++) local[index] = index * 7;
  for (let trial = 0; trial < MAX_TRIALS; trial++) {
    if (trial >= MIN_TRIALS && performance.now() - started > BUDGET_MS) break;
    for (const { area, best } of targets) {
      const write = timeCopies(area, local);
      const read = timeCopies(local, area);
      best.writeBytesPerSecond = Math.max(best.writeBytesPerSecond, write);
      best.readBytesPerSecond = Math.max(best.readBytesPerSecond, read);
    }
  }
}

/** One function for every mapping and direction, so the JIT warms up once, not once per closure. */
function timeCopies(destination: Uint8Array, source: Uint8Array): number {
  const started = performance.now();
  let copies = 0;
  while (copies < TRIAL_COPIES) {
    destination.set(source);
    copies++;
    // Checking the clock every 16 copies keeps it out of the figure on fast memory.
    if ((copies & 15) === 0 && performance.now() - started > TRIAL_MS) break;
  }
  // A clock that did not visibly advance means "very fast", not "infinitely fast".
  const elapsedMs = Math.max(performance.now() - started, 0.001);
  return (copies * PROBE_BYTES) / (elapsedMs / 1000);
}
