/**
 * Fig. 4a from the parent's side: lock cost (its worker is below), the parked and the spinning hand-off
 * (handoff-worker.ts) and the operating system's wake-up floor (handoff-worker.ts), each between worker
 * processes against the benchmark's arbiter.
 */
import { join } from "node:path";
import { failure } from "../errors.ts";
import type { Client } from "../guest/client.ts";
import type { Mutex } from "../guest/sync.ts";
import { withChildren } from "./child.ts";
import {
  emit,
  finalEvents,
  freshChannel,
  localNanoseconds,
  nextEvent,
  numberField,
  numbersField,
  startWorker,
  type WorkerFlags,
  withWorkerClient,
} from "./worker-io.ts";

export interface SyncEndpoint {
  readonly socket: string;
  readonly region: string;
  /** A directory for the floor's socket. */
  readonly scratch: string;
  readonly workerCommand: readonly string[];
}

const TIMEOUT_MS = 120_000;

/** Where workers find the arbiter, and a slot name of their own (`prefix`-...) that no earlier run used. */
export function slotFlags(endpoint: SyncEndpoint, prefix: string) {
  return { socket: endpoint.socket, region: endpoint.region, name: freshChannel(prefix) };
}

/** Adds nanoseconds per acquire/release pair, by method, from one worker run. */
export async function measureLockPairs(
  endpoint: SyncEndpoint,
  pairs: number,
  round: number,
  samples: Record<LockMethod, number[]>,
): Promise<void> {
  await withChildren("measure lock cost", TIMEOUT_MS, async (children) => {
    const flags = { ...slotFlags(endpoint, "lock"), pairs, round };
    const worker = startWorker(children, endpoint.workerCommand, "locks", flags);
    const [event] = await finalEvents([worker, "locks"]);
    for (const method of LOCK_METHODS) samples[method].push(numberField(event, method));
  });
}

export interface HandoffSamples {
  readonly latenciesNs: number[];
  /** Parked mode: rounds in which the waiter had not parked yet (dropped). */
  unparked: number;
  /** Spin mode: estimated offsets between the two processes' shared clocks. */
  readonly offsetsNs: number[];
}

/** Adds `rounds` hand-offs of `mode` to `samples`. */
export async function measureHandoff(
  endpoint: SyncEndpoint,
  mode: "parked" | "spin",
  rounds: number,
  samples: HandoffSamples,
): Promise<void> {
  await withChildren(`measure the ${mode} hand-off`, TIMEOUT_MS, async (children) => {
    const flags = { ...slotFlags(endpoint, "handoff"), mode, rounds };
    const waiter = startWorker(children, endpoint.workerCommand, "handoff-wait", flags);
    const waker = startWorker(children, endpoint.workerCommand, "handoff-wake", flags);
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

export interface FloorSamples {
  /** Stamp → the echo's callback: one wake-up through a Unix socket. */
  readonly oneWayNs: number[];
  readonly roundTripsNs: number[];
  /** The same through a relay process: two wake-ups, as WAKE through the arbiter. */
  readonly relayNs: number[];
}

/** Adds a Unix-socket ping-pong straight to an echo (`hops` 1) or through a relay process (`hops` 2). */
export async function measureSocketFloor(
  endpoint: SyncEndpoint,
  rounds: number,
  hops: 1 | 2,
  samples: FloorSamples,
): Promise<void> {
  await withChildren("measure the socket wake-up floor", TIMEOUT_MS, async (children) => {
    const address = join(endpoint.scratch, `${freshChannel("floor")}.sock`);
    const echo = startWorker(children, endpoint.workerCommand, "echo", { address });
    await nextEvent(echo, "ready");
    let target = address;
    if (hops === 2) {
      target = join(endpoint.scratch, `${freshChannel("relay")}.sock`);
      await nextEvent(
        startWorker(children, endpoint.workerCommand, "relay", { address: target, to: address }),
        "ready",
      );
    }
    const ping = startWorker(children, endpoint.workerCommand, "ping", { address: target, rounds });
    const [trips, oneWay] = await Promise.all([nextEvent(ping, "round-trips"), nextEvent(echo, "latencies")]);
    await Promise.all(children.map((child) => child.finish()));
    // The relay's round trips are not a floor of anything the report shows.
    if (hops === 1) samples.roundTripsNs.push(...numbersField(trips, "roundTripsNs"));
    (hops === 1 ? samples.oneWayNs : samples.relayNs).push(...numbersField(oneWay, "latenciesNs"));
  });
}

/*
 * Uncontended lock cost for Fig. 4a: `pairs` acquire/release pairs of one ivsh mutex, three ways, in an
 * order that rotates with `--round` so none always runs first (warm caches, JIT state):
 *
 * - fast: `await mutex.lock(); mutex.unlock()`, the public API: one compare-and-swap each, no RPC.
 * - try: `mutex.tryLock(); mutex.unlock()`, the same without the promise `lock()` returns.
 * - rpc: the report's design as a baseline: acquire is one arbiter round trip, then taking the lock word;
 *   release is releasing the word, then another round trip. The request is a heartbeat (`confirmLease`),
 *   the cheapest the arbiter serves, so this is the least any design pays that asks a daemon for each
 *   acquire and release (the report's daemon also did bookkeeping, in Python).
 */
export const LOCK_METHODS = ["fast", "try", "rpc"] as const;
export type LockMethod = (typeof LOCK_METHODS)[number];

const WARMUP_PAIRS = 2000;

async function fastPairs(mutex: Mutex, pairs: number): Promise<void> {
  for (let pair = 0; pair < pairs; pair++) {
    await mutex.lock();
    mutex.unlock();
  }
}

function tryPairs(mutex: Mutex, pairs: number): void {
  for (let pair = 0; pair < pairs; pair++) {
    if (!mutex.tryLock()) throw failure("Internal", "take an uncontended lock", "tryLock found it taken");
    mutex.unlock();
  }
}

async function rpcPairs(mutex: Mutex, client: Client, pairs: number): Promise<void> {
  for (let pair = 0; pair < pairs; pair++) {
    await client.confirmLease();
    if (!mutex.tryLock()) throw failure("Internal", "take an uncontended lock", "tryLock found it taken");
    mutex.unlock();
    await client.confirmLease();
  }
}

export async function runLocks(flags: WorkerFlags): Promise<void> {
  const pairs = flags.count("pairs");
  const rotation = Number(flags.optional("round") ?? 0);
  await withWorkerClient(flags, "bench locks", async (client) => {
    const mutex = await client.mutex(flags.string("name"));
    const run: Record<LockMethod, (count: number) => Promise<void> | void> = {
      fast: (count) => fastPairs(mutex, count),
      try: (count) => tryPairs(mutex, count),
      rpc: (count) => rpcPairs(mutex, client, count),
    };
    const pairNs: Partial<Record<LockMethod, number>> = {};
    for (let step = 0; step < LOCK_METHODS.length; step++) {
      const method = LOCK_METHODS[(step + rotation) % LOCK_METHODS.length]!;
      await run[method](method === "rpc" ? WARMUP_PAIRS / 10 : WARMUP_PAIRS);
      const started = localNanoseconds();
      await run[method](pairs);
      pairNs[method] = (localNanoseconds() - started) / pairs;
    }
    emit({ event: "locks", pairs, ...pairNs });
  });
}
