/** Fig. 4a and the condvar hand-offs, the parent's side (sync-worker.ts, condvar-worker.ts), per round. */
import { join } from "node:path";
import { failure } from "../errors.ts";
import { withChildren } from "./child.ts";
import { MiB } from "./memory.ts";
import { rotate } from "./plan.ts";
import { summarize } from "./stats.ts";
import { LOCK_METHODS, LOOP_MODES, type LoopMode, type SuiteRun, type VersusSocket } from "./suite-data.ts";
import {
  type Event,
  type Flags,
  finalEvents,
  freshChannel,
  nextEvent,
  numberField,
  numbersField,
  startWorker,
} from "./worker-io.ts";

const TIMEOUT_MS = 120_000;

/** The arbiter's address (only: spread, the BenchArbiter put its functions in argv) and a fresh slot name. */
function slotFlags(run: SuiteRun, prefix: string) {
  return { socket: run.shm.socket, region: run.shm.region, name: freshChannel(prefix) };
}

/** Adds nanoseconds per acquire/release pair, by method, from one worker run. */
export async function measureLockPairs(run: SuiteRun, round: number): Promise<void> {
  await withChildren("measure lock cost", TIMEOUT_MS, async (children) => {
    const flags = { ...slotFlags(run, "lock"), pairs: run.plan.lockPairs, round };
    const worker = startWorker(children, "locks", flags);
    const [event] = await finalEvents([worker, "locks"]);
    for (const method of LOCK_METHODS) run.data.locks[method].push(numberField(event, method));
  });
}

/** Adds `rounds` hand-offs of `mode` to the run's samples. */
export async function measureHandoff(run: SuiteRun, mode: "parked" | "spin", rounds: number): Promise<void> {
  const samples = run.data.handoff[mode];
  await withChildren(`measure the ${mode} hand-off`, TIMEOUT_MS, async (children) => {
    const flags = { ...slotFlags(run, "handoff"), mode, rounds };
    const waiter = startWorker(children, "handoff-wait", flags);
    const waker = startWorker(children, "handoff-wake", flags);
    // The spinning waker times its own round trips; a parked waiter times its wake-ups.
    const [report] = await (mode === "spin"
      ? finalEvents([waker, "latencies"], [waiter, "done"])
      : finalEvents([waiter, "latencies"], [waker, "done"]));
    const latenciesNs = numbersField(report, "latenciesNs");
    if (mode === "parked" && latenciesNs.length === 0)
      throw failure("Internal", "measure the parked hand-off", "the waiter never parked before its wake");
    samples.latenciesNs.push(...latenciesNs);
    if (mode === "spin") samples.offsetsNs.push(...numbersField(report, "offsetsNs"));
    else samples.unparked += numberField(report, "unparked");
  });
}

/** Adds a Unix-socket ping-pong straight to an echo (`hops` 1) or through a relay process (`hops` 2). */
export async function measureSocketFloor(run: SuiteRun, rounds: number, hops: 1 | 2): Promise<void> {
  const samples = run.data.handoff.floor;
  await withChildren("measure the socket wake-up floor", TIMEOUT_MS, async (children) => {
    const address = join(run.scratchDir, `${freshChannel("floor")}.sock`);
    const echo = startWorker(children, "echo", { address, rounds });
    await nextEvent(echo, "ready");
    let target = address;
    if (hops === 2) {
      target = join(run.scratchDir, `${freshChannel("relay")}.sock`);
      const relay = startWorker(children, "relay", { address: target, to: address });
      await nextEvent(relay, "ready");
    }
    const ping = startWorker(children, "ping", { address: target, rounds });
    const [trips, oneWay] = await Promise.all([nextEvent(ping, "round-trips"), nextEvent(echo, "latencies")]);
    await Promise.all(children.map((child) => child.finish()));
    // The relay's round trips are not a floor of anything the report shows.
    if (hops === 1) samples.roundTripsNs.push(...numbersField(trips, "roundTripsNs"));
    (hops === 1 ? samples.oneWayNs : samples.relayNs).push(...numbersField(oneWay, "latenciesNs"));
  });
}

/** The report's area: 1 MiB of data plus its "data available" byte. */
export const LOOP_AREA_BYTES = 1 * MiB + 1;
/** The loops move the plan's bytes at a chunk per hand-off: far longer than a lock or hand-off run. */
const CONDVAR_TIMEOUT_MS = 300_000;

/** One round of the report's loops, each mode once in rotating order, then a cv-pair. */
export async function condvarRound(run: SuiteRun, round: number): Promise<void> {
  for (const mode of rotate(LOOP_MODES, round))
    run.data.condvar.loops[mode].push(await measureLoops(run, mode, run.plan.bytes));
  await measurePair(run, round);
}

/** A cv-loop worker's flags: one side of the report's loops, moving `bytes` through the report's area. */
export function loopFlags(side: "reader" | "writer", mode: LoopMode, bytes: number, where: Flags) {
  return { ...where, side, mode, bytes, area: LOOP_AREA_BYTES };
}

async function measureLoops(run: SuiteRun, mode: LoopMode, bytes: number): Promise<number> {
  return withChildren(`measure the report's loops (${mode})`, CONDVAR_TIMEOUT_MS, async (children) => {
    const where = pairFlags(run, "loops");
    const reader = startWorker(children, "cv-loop", loopFlags("reader", mode, bytes, where));
    if (mode === "socket") await nextEvent(reader, "ready");
    const writer = startWorker(children, "cv-loop", loopFlags("writer", mode, bytes, where));
    const [read] = await finalEvents([reader, "loop"], [writer, "loop"]);
    return numberField(read, "seconds");
  });
}

/** A ping-pong of the plan's lock pairs, and its share of the parked wake-ups, per round. */
async function measurePair(run: SuiteRun, round: number): Promise<void> {
  const { plan, data } = run;
  const samples = data.condvar;
  await withChildren("measure condvar ping-pong and wake-ups", CONDVAR_TIMEOUT_MS, async (children) => {
    const counts = { rounds: plan.lockPairs, wakes: Math.ceil(plan.handoffRounds / plan.repeats), round };
    const flags = { ...pairFlags(run, "pair"), ...counts };
    const b = startWorker(children, "cv-pair", { ...flags, side: "b" });
    const a = startWorker(children, "cv-pair", { ...flags, side: "a" });
    const [trips, wakes] = await finalEvents([a, "round-trips"], [b, "wakes"]);
    addPairRound(samples.pingPong, samples.wakes, trips, wakes);
    samples.wakeRatios.push(wakeRatio(wakes));
  });
}

/** A round's wake-up ratio, as its row and goal say: the median CondVar wake-up ÷ the median socket one. */
export function wakeRatio(woken: Event): number {
  const median = (field: string) => summarize(numbersField(woken, field)).median;
  return median("condvarWakeNs") / median("socketWakeNs");
}

/** A cv-pair's run: a's mean round trips into `pingPong`, every wake-up (of the timing side) into `wakes`. */
export function addPairRound(pingPong: VersusSocket, wakes: VersusSocket, trips: Event, woken: Event): void {
  pingPong.condvar.push(numberField(trips, "condvarRoundTripNs"));
  pingPong.socket.push(numberField(trips, "socketRoundTripNs"));
  wakes.condvar.push(...numbersField(woken, "condvarWakeNs"));
  wakes.socket.push(...numbersField(woken, "socketWakeNs"));
}

/** Where a pair of workers meets: the arbiter, a fresh slot name, and a socket path of their own. */
function pairFlags(run: SuiteRun, prefix: string) {
  const flags = slotFlags(run, prefix);
  return { ...flags, address: join(run.scratchDir, `${flags.name}.sock`) };
}
