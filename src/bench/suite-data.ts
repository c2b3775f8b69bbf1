/**
 * The raw samples of an `ivsh bench` run (suite.ts measures them; results.ts, goals.ts and the charts
 * read them) and what a run is given. Types only, so the readers need not depend on the runner.
 */
import type { Interruption } from "./child.ts";
import type { DigestSamples } from "./digest-bench.ts";
import type { MemcpyMeasurement } from "./memory.ts";
import type { BenchPlan } from "./plan.ts";
import type { BridgeMode } from "./vm-launch.ts";

export interface AccessSamples {
  readonly id: string;
  readonly label: string;
  /** Sequential read and write bandwidth per round, bytes/s. */
  readonly read: number[];
  readonly write: number[];
  /** ns per dependent random 8-byte load, per round. */
  readonly latency: number[];
}

export interface TransferSamples {
  readonly label: string;
  /** Seconds per round; empty when the method could not run. */
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

export interface SuiteData {
  readonly plan: BenchPlan;
  /** memcpy bandwidth, one sample per round (the median of three copies), bytes/s. */
  readonly memcpyRates: number[];
  readonly memcpyInCache: MemcpyMeasurement;
  /** The digest's cost next to the copy's (digest-bench.ts), one sample per method and round. */
  readonly digest: DigestSamples;
  /** Fig. 3b, by method id. */
  readonly transfers: Record<string, TransferSamples>;
  /** Fig. 3a. */
  readonly sweep: SweepPoint[];
  /** ns per acquire/release pair, one sample per round. */
  readonly locks: Record<LockMethod, number[]>;
  readonly handoff: { parked: HandoffSamples; spin: HandoffSamples; floor: FloorSamples };
  /** The report's loops, ping-pong and parked wake-ups through a CondVar next to a Unix socket. */
  readonly condvar: CondvarSamples;
  /** The same across the VM boundary (--vm), next to the VM's network. */
  readonly condvarVm: VmCondvarSamples;
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
}

export interface SuiteContext {
  readonly plan: BenchPlan;
  /** Where the "mmapped file on disk" lives; must not be tmpfs to mean anything. */
  readonly diskDir: string;
  readonly scratchDir: string;
  readonly interruption: Interruption;
  readonly progress: (message: string) => void;
}

/**
 * Every VM round's results, as rows take them: the loops' reader seconds and the mean ping-pong round trip,
 * one sample per round; every parked round trip (a wake-up each way), ns.
 */
export interface VmCondvarSamples {
  readonly loops: Record<LoopMode, number[]>;
  readonly pingPong: { condvar: number[]; socket: number[] };
  readonly wakeRoundTrips: { condvar: number[]; socket: number[] };
}

/** The ways a lock pair is taken (sync-worker.ts says how each works). */
export type LockMethod = "fast" | "try" | "rpc";
/** The report's loops: ivsh's CondVar, the report's design (RPC per operation), a Unix socket. */
export type LoopMode = "ivsh" | "rpc" | "socket";

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
  readonly pingPong: { condvar: number[]; socket: number[] };
  /** Every parked wake-up, ns. */
  readonly wakes: { condvar: number[]; socket: number[] };
  /** Per round: median condvar wake-up ÷ median socket wake-up (same processes, same round). */
  readonly wakeRatios: number[];
}
