/**
 * What `ivsh bench` measures and how much: the report's sizes by default (2 GiB per transfer, block
 * sizes 4 KiB … 64 MiB, 20 000 lock pairs), a subset that ends within a minute with --quick.
 */
import { powerOfTwoAtLeast } from "../region/layout.ts";
import { MiB } from "./memory.ts";

const KiB = 1024;
const GiB = 1024 * MiB;

export type BenchPlan = ReturnType<typeof benchPlan>;

/** The report's workload: 20 000 lock operations and 2 GB at 4 MB blocks, which lock shares refer to. */
export const REPORT_LOCK_PAIRS = 20_000;
export const REPORT_BYTES = 2 * GiB;
export const REPORT_BLOCK = 4 * MiB;

const ALL_BLOCK_SIZES = Array.from({ length: 15 }, (_, index) => 4 * KiB * 2 ** index);

/**
 * Every method runs once per round, in an order that rotates between rounds. Per transfer (Fig. 3a, 3b):
 * `bytes`, in `streamChunk` chunks (the library's default; the sockets write 1 MiB) through a ring `depth`
 * chunks deep (the library's default), and the sweep's `blockSizes`. Fig. 4a: `lockPairs` acquire/release
 * pairs per method and round; `handoffRounds` parked hand-offs and socket ping-pongs and `spinRounds`
 * spinning hand-offs over all rounds. Fig. 4b: mappings of `accessBytes`. With `vm`, through VMs too (3b
 * guest→host and host→guest, 4b resource2 vs resource2_wc), `vmBytes` per transfer: a TCG guest moves data
 * far slower than the host.
 */
export function benchPlan({ quick, vm }: { quick: boolean; vm: boolean }) {
  /** The value with --quick, and the report's. */
  const pick = <T>(small: T, full: T) => (quick ? small : full);
  return {
    streamChunk: 1 * MiB,
    depth: 8,
    vm,
    quick,
    bytes: pick(256 * MiB, REPORT_BYTES),
    repeats: pick(3, 5),
    blockSizes: pick<readonly number[]>(
      [4 * KiB, 64 * KiB, 1 * MiB, REPORT_BLOCK, 16 * MiB],
      ALL_BLOCK_SIZES,
    ),
    lockPairs: pick(2000, REPORT_LOCK_PAIRS),
    handoffRounds: pick(200, 2000),
    spinRounds: pick(2000, 20_000),
    accessBytes: pick(32 * MiB, 256 * MiB),
    vmBytes: pick(16 * MiB, 256 * MiB),
  };
}

/**
 * The /dev/shm region: a power of two (QEMU maps it as a BAR with --vm) that holds what the run writes
 * into it (`regionUseFor`).
 */
export function regionBytesFor(plan: BenchPlan): number {
  return powerOfTwoAtLeast(regionUseFor(plan));
}

/**
 * What the run writes into its region: the largest ring (and a page for its record headers), or the Fig.
 * 4b segment, one at a time and first fit from its start, with room for the header, slots and its state
 * journal beside it. The rest of the power of two stays a hole of the sparse file, taking no room.
 */
export function regionUseFor(plan: BenchPlan): number {
  const largestRing = Math.max(...plan.blockSizes, plan.streamChunk) * plan.depth + 4 * KiB;
  return Math.max(largestRing, plan.accessBytes) + 4 * MiB;
}

/** `items` rotated left by `round`, so each gets each position in turn over the rounds. */
export function rotate<T>(items: readonly T[], round: number): T[] {
  if (items.length === 0) return [];
  const shift = round % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}
