/** The raw samples of a run (suite.ts measures, results.ts reads) and its inputs: types only. */
import type { DigestSamples } from "./digest-bench.ts";
import type { MemcpyMeasurement } from "./memory.ts";
import type { BenchPlan } from "./plan.ts";
import type { BridgeMode } from "./vm-launch.ts";

/** Fig. 4b: bandwidth in bytes/s and ns per dependent random 8-byte load, one sample each per round. */
export interface AccessSamples {
  readonly id: string;
  readonly label: string;
  readonly read: number[];
  readonly write: number[];
  readonly latency: number[];
}

export interface TransferSamples {
  readonly label: string;
  /** Seconds per round; empty when the method could not run, and `unavailable` says why. */
  readonly seconds: number[];
  readonly bytes: number;
  readonly unavailable?: string;
  /** Measured in rounds of its own (the VMs'), not the suite's: compared to memcpy by the medians. */
  readonly ownRounds?: boolean;
}

export interface SweepPoint {
  readonly block: number;
  readonly seconds: number[];
  /** RPCs of sender and receiver per round, by operation. */
  readonly requests: Record<string, number>[];
}

/** The ways a lock pair is taken (sync-worker.ts says how each works). */
export const LOCK_METHODS = ["fast", "try", "rpc"] as const;
export type LockMethod = (typeof LOCK_METHODS)[number];
/** The report's loops: ivsh's CondVar, the report's design (an arbiter round trip per operation), a socket. */
export const LOOP_MODES = ["ivsh", "rpc", "socket"] as const;
export type LoopMode = (typeof LOOP_MODES)[number];

/** A CondVar's samples next to a socket's, taken between the same processes. */
export type VersusSocket = { readonly condvar: number[]; readonly socket: number[] };

export interface SuiteData {
  readonly plan: BenchPlan;
  /** memcpy bandwidth, one sample per round (the median of three copies), bytes/s. */
  readonly memcpyRates: number[];
  readonly memcpyInCache: MemcpyMeasurement;
  readonly digest: DigestSamples;
  /** Fig. 3b, by method id. */
  readonly transfers: Record<string, TransferSamples>;
  /** Fig. 3a. */
  readonly sweep: SweepPoint[];
  /** ns per acquire/release pair, one sample per round. */
  readonly locks: Record<LockMethod, number[]>;
  readonly handoff: { parked: HandoffSamples; spin: HandoffSamples; floor: FloorSamples };
  readonly condvar: CondvarSamples;
  /** The same across the VM boundary (--vm), next to the VM's network; parked round trips, not wake-ups. */
  readonly condvarVm: Omit<CondvarSamples, "wakes" | "wakeRatios"> & { wakeRoundTrips: VersusSocket };
  /** --vm: a guest's request round trips, its connection handed over vs relayed by its bridge. */
  readonly guestRequests: Record<BridgeMode, number[]>;
  /** Fig. 4b. */
  readonly access: AccessSamples[];
  /** Whole processes from start to exit, a file as the source (end-to-end.ts), by method. */
  readonly endToEnd: Record<string, TransferSamples>;
  /** The ivsh binary those rows ran. */
  readonly endToEndBinary: string;
  /** Caveats to print with the results (a "disk" that is tmpfs, VMs under TCG, ...). */
  readonly notes: string[];
  /** Failures that did not end the run (--vm's VMs): the results are written, then the command fails. */
  readonly failures: unknown[];
}

export interface SuiteContext {
  readonly plan: BenchPlan;
  /** Where the "mmapped file on disk" lives; must not be tmpfs to mean anything. */
  readonly diskDir: string;
  readonly scratchDir: string;
  /** Aborted by Ctrl-C: measurements stop at their next step (`throwIfAborted`). */
  readonly signal: AbortSignal;
  readonly progress: (message: string) => void;
}

/** Where workers find an arbiter. */
export type ArbiterAddress = { readonly socket: string; readonly region: string };

/** A run in progress: what it was given, its arbiters (/dev/shm's, the disk file's) and its samples. */
export interface SuiteRun extends SuiteContext {
  readonly data: SuiteData;
  readonly shm: ArbiterAddress;
  readonly disk: ArbiterAddress;
}

export interface HandoffSamples {
  readonly latenciesNs: number[];
  /** Parked mode: rounds in which the waiter had not parked yet (dropped). */
  unparked: number;
  /** Spin mode: estimated offsets between the two processes' shared clocks. */
  readonly offsetsNs: number[];
}

export interface FloorSamples {
  /** Stamp → the echo's callback: one wake-up through a Unix socket. */
  readonly oneWayNs: number[];
  readonly roundTripsNs: number[];
  /** The same through a relay process: two wake-ups, as WAKE through the arbiter. */
  readonly relayNs: number[];
}

export interface CondvarSamples {
  /** Seconds for the loops to move the plan's bytes, by mode, one sample per round (the reader's time). */
  readonly loops: Record<LoopMode, number[]>;
  /** Mean round trip per round, ns. */
  readonly pingPong: VersusSocket;
  /** Every parked wake-up, ns. */
  readonly wakes: VersusSocket;
  /** Per round: median condvar wake-up ÷ median socket wake-up (same processes, same round). */
  readonly wakeRatios: number[];
}
