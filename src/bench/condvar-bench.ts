/**
 * The condvar hand-off benchmarks from the parent's side (workers: condvar-worker.ts, condvar-pair.ts):
 * the report's Fig. 1 / Fig. 2 loops three ways, and between one pair of processes a CondVar ping-pong
 * and parked wake-up next to the same over a Unix socket. One sample set per round of the suite.
 */
import { join } from "node:path";
import { type Child, withChildren } from "./child.ts";
import { MiB } from "./memory.ts";
import { rotate } from "./plan.ts";
import { middleSample } from "./stats.ts";
import { type SyncEndpoint, slotFlags } from "./sync.ts";
import {
  type Event,
  type Flags,
  finalEvents,
  nextEvent,
  numberField,
  numbersField,
  startWorker,
} from "./worker-io.ts";

/** ivsh: the CondVar; rpc: the report's design (an arbiter round trip per operation); socket: no area. */
export const LOOP_MODES = ["ivsh", "rpc", "socket"] as const;
export type LoopMode = (typeof LOOP_MODES)[number];

/** The report's area: 1 MiB of data plus its "data available" byte. */
export const LOOP_AREA_BYTES = 1 * MiB + 1;
const TIMEOUT_MS = 300_000;

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

export function emptyCondvarSamples(): CondvarSamples {
  return {
    loops: { ivsh: [], rpc: [], socket: [] },
    pingPong: { condvar: [], socket: [] },
    wakes: { condvar: [], socket: [] },
    wakeRatios: [],
  };
}

export interface CondvarPlan {
  readonly bytes: number;
  readonly pingPongRounds: number;
  readonly wakes: number;
}

export async function condvarRound(
  endpoint: SyncEndpoint,
  plan: CondvarPlan,
  round: number,
  samples: CondvarSamples,
): Promise<void> {
  for (const mode of rotate([...LOOP_MODES], round))
    samples.loops[mode].push(await measureLoops(endpoint, mode, plan.bytes));
  await measurePair(endpoint, plan, round, samples);
}

/** A cv-loop worker's flags: one side of the report's loops, moving `bytes` through the report's area. */
export function loopFlags(side: "reader" | "writer", mode: LoopMode, bytes: number, where: Flags) {
  return { ...where, side, mode, bytes, area: LOOP_AREA_BYTES };
}

/** One of a pair of workers, named by its side. */
function start(children: Child[], endpoint: SyncEndpoint, role: string, flags: Flags & { side: string }) {
  return startWorker(children, endpoint.workerCommand, role, flags, `${role} ${flags.side} worker`);
}

async function measureLoops(endpoint: SyncEndpoint, mode: LoopMode, bytes: number): Promise<number> {
  return withChildren(`measure the report's loops (${mode})`, TIMEOUT_MS, async (children) => {
    const where = pairFlags(endpoint, "loops");
    const reader = start(children, endpoint, "cv-loop", loopFlags("reader", mode, bytes, where));
    if (mode === "socket") await nextEvent(reader, "ready");
    const writer = start(children, endpoint, "cv-loop", loopFlags("writer", mode, bytes, where));
    const [read] = await finalEvents([reader, "loop"], [writer, "loop"]);
    return numberField(read, "seconds");
  });
}

async function measurePair(
  endpoint: SyncEndpoint,
  plan: CondvarPlan,
  round: number,
  samples: CondvarSamples,
): Promise<void> {
  await withChildren("measure condvar ping-pong and wake-ups", TIMEOUT_MS, async (children) => {
    const flags = {
      ...pairFlags(endpoint, "pair"),
      rounds: plan.pingPongRounds,
      wakes: plan.wakes,
      round,
    };
    const b = start(children, endpoint, "cv-pair", { ...flags, side: "b" });
    const a = start(children, endpoint, "cv-pair", { ...flags, side: "a" });
    const [trips, wakes] = await finalEvents([a, "round-trips"], [b, "wakes"]);
    addPairRound(samples.pingPong, samples.wakes, trips, wakes);
    samples.wakeRatios.push(
      middleSample(numbersField(wakes, "condvarWakeNs")) / middleSample(numbersField(wakes, "socketWakeNs")),
    );
  });
}

type Pair = { condvar: number[]; socket: number[] };

/**
 * A cv-pair run into the samples: side a's mean round trips (`trips`) into `pingPong`, every wake-up (of
 * the side that timed them, `wakes`) into `wakes`.
 */
export function addPairRound(pingPong: Pair, wakes: Pair, trips: Event, woken: Event): void {
  pingPong.condvar.push(numberField(trips, "condvarRoundTripNs"));
  pingPong.socket.push(numberField(trips, "socketRoundTripNs"));
  wakes.condvar.push(...numbersField(woken, "condvarWakeNs"));
  wakes.socket.push(...numbersField(woken, "socketWakeNs"));
}

/** Where a pair of workers meets: the arbiter, a fresh slot name, and a socket path of their own. */
function pairFlags(endpoint: SyncEndpoint, prefix: string) {
  const flags = slotFlags(endpoint, prefix);
  return { ...flags, address: join(endpoint.scratch, `${flags.name}.sock`) };
}
