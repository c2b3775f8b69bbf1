/**
 * What `ivsh bench` measures and how much: the report's sizes by default (2 GiB per transfer, block
 * sizes 4 KiB … 64 MiB, 20 000 lock pairs), a subset that ends within a minute with --quick.
 */
import { MiB } from "./memory.ts";

const KiB = 1024;
const GiB = 1024 * MiB;

export interface BenchPlan {
  readonly quick: boolean;
  /** Bytes per transfer, every method (Fig. 3a, 3b). */
  readonly bytes: number;
  /** Rounds; every method runs once per round, in an order that rotates between rounds. */
  readonly repeats: number;
  /** Chunk sizes of the Fig. 3a sweep. */
  readonly blockSizes: readonly number[];
  /** ivsh chunk size and socket write size in Fig. 3b: the library's default, and the sockets' 1 MiB. */
  readonly streamChunk: number;
  /** Ring depth of every ivsh transfer (the library's default). */
  readonly depth: number;
  /** Acquire/release pairs per method and round (Fig. 4a). */
  readonly lockPairs: number;
  /** Parked hand-offs and socket ping-pongs, over all rounds. */
  readonly handoffRounds: number;
  /** Spinning hand-offs over all rounds. */
  readonly spinRounds: number;
  /** Size of each mapping whose access times are measured (Fig. 4b). */
  readonly accessBytes: number;
  /** Through VMs too (3b guest→host and host→guest, 4b resource2 vs resource2_wc). */
  readonly vm: boolean;
  /** Bytes per VM transfer: a TCG guest moves data far slower than the host. */
  readonly vmBytes: number;
}

/** The report's workload: 20 000 lock operations and 2 GB at 4 MB blocks, which lock shares refer to. */
export const REPORT_LOCK_PAIRS = 20_000;
export const REPORT_BYTES = 2 * GiB;
export const REPORT_BLOCK = 4 * MiB;

const ALL_BLOCK_SIZES = Array.from({ length: 15 }, (_, index) => 4 * KiB * 2 ** index);

export function benchPlan(options: { quick: boolean; vm: boolean }): BenchPlan {
  const common = { streamChunk: 1 * MiB, depth: 8, vm: options.vm };
  if (options.quick)
    return {
      ...common,
      quick: true,
      bytes: 256 * MiB,
      repeats: 3,
      blockSizes: [4 * KiB, 64 * KiB, 1 * MiB, REPORT_BLOCK, 16 * MiB],
      lockPairs: 2000,
      handoffRounds: 200,
      spinRounds: 2000,
      accessBytes: 32 * MiB,
      vmBytes: 16 * MiB,
    };
  return {
    ...common,
    quick: false,
    bytes: REPORT_BYTES,
    repeats: 5,
    blockSizes: ALL_BLOCK_SIZES,
    lockPairs: REPORT_LOCK_PAIRS,
    handoffRounds: 2000,
    spinRounds: 20_000,
    accessBytes: 256 * MiB,
    vmBytes: 256 * MiB,
  };
}

/**
 * The /dev/shm region: a power of two (QEMU maps it as a BAR with --vm) that holds the largest ring (and a
 * page for its record headers), or the Fig. 4b segment, with room for the header and slots.
 */
export function regionBytesFor(plan: BenchPlan): number {
  const largestRing = Math.max(...plan.blockSizes, plan.streamChunk) * plan.depth + 4 * KiB;
  const needed = Math.max(largestRing, plan.accessBytes) + 4 * MiB;
  return 2 ** Math.ceil(Math.log2(needed));
}

/** `items` rotated left by `round`, so each gets each position in turn over the rounds. */
export function rotate<T>(items: readonly T[], round: number): T[] {
  if (items.length === 0) return [];
  const shift = round % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}
