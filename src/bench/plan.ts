/** What `ivsh bench` measures and how much: the report's sizes, or a subset with --quick. */
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
 * Every method once per round, in rotating order: `bytes` per transfer in the library's default chunk and
 * depth, the sweep's `blockSizes`, `lockPairs` per round, hand-offs over all rounds, `accessBytes` mappings,
 * and `vmBytes` through a (slow, TCG) VM.
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

/** The /dev/shm region: a power of two (a BAR with --vm) that holds what the run writes (`regionUseFor`). */
export function regionBytesFor(plan: BenchPlan): number {
  return powerOfTwoAtLeast(regionUseFor(plan));
}

/** The largest ring (and a page) or the Fig. 4b segment, one at a time, and room for header and slots. */
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
