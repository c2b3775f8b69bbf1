/**
 * `ivsh bench --scale`: worker processes (scale-worker.ts) connect many clients and allocate segments, run
 * a request mix while the arbiter's memory is sampled; then kill -9 and restart, timed until it answers and
 * until every client resumed. Last, the same load against a bare echo server: the floor.
 */
import { readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { failure, throwIfAborted } from "../errors.ts";
import { raiseOpenFileLimit } from "../ffi/index.ts";
import { fetchStatus } from "../guest/inspect.ts";
import { powerOfTwoAtLeast } from "../region/layout.ts";
import { BenchArbiter } from "./arbiter.ts";
import { benchDirectory, type Child, withChildren } from "./child.ts";
import { MiB } from "./memory.ts";
import { residentMemory } from "./scale-guests.ts";
import { SCALE_OPS, type ScaleOp } from "./scale-worker.ts";
import { type Summary, summarize } from "./stats.ts";
import { type Event, nextEvent, numberField, startWorker } from "./worker-io.ts";

export type ScalePlan = ReturnType<typeof scalePlan>;

/** What the scale benchmark found (measure() says what each field is), as --json writes it. */
export type ScaleResult = Awaited<ReturnType<typeof runScale>>;

/** At most: fewer processes compete less, but their clients' mappings must stay under vm.max_map_count. */
const CLIENTS_PER_WORKER = 100;
/** Mappings a client needs beyond two per grant (its region, its transient grants, the runtime's own). */
const MAPPINGS_PER_CLIENT = 16;
const BLOCK_BYTES = 4096;
const TIMEOUT_MS = 15 * 60_000;
const RSS_SAMPLE_MS = 200;
const RESUME_TIMEOUT_MS = 120_000;
const FLOOR_TIMEOUT_MS = 5 * 60_000;
export const PROBE_CLIENTS = 2;
export const PROBE_RATE = 200;

export function scalePlan(options: {
  quick: boolean;
  clients?: number;
  allocations?: number;
  seconds?: number;
  rate?: number;
}) {
  const clients = options.clients ?? (options.quick ? 40 : 1000);
  const allocations = options.allocations ?? (options.quick ? 2000 : 100_000);
  if (allocations < clients)
    throw failure(
      "InvalidArgument",
      "plan the scale benchmark",
      `${allocations} allocations cannot be spread over ${clients} clients (give each at least one)`,
    );
  return {
    clients,
    allocations,
    seconds: options.seconds ?? (options.quick ? 3 : 20),
    // Requests per second, all workers together.
    rate: options.rate ?? (options.quick ? 400 : 4000),
    workers: workersFor(clients, allocations),
  };
}

function workersFor(clients: number, allocations: number): number {
  const mappingsPerClient = 2 * Math.ceil(allocations / clients) + MAPPINGS_PER_CLIENT;
  const limit = maxMapCount();
  const perWorker = Math.min(CLIENTS_PER_WORKER, Math.floor((limit * 0.9) / mappingsPerClient));
  if (perWorker < 1)
    throw failure(
      "InvalidArgument",
      "plan the scale benchmark",
      `a client holding ${Math.ceil(allocations / clients)} grants needs about ${mappingsPerClient} mappings and ` +
        `vm.max_map_count is ${limit}: spread the allocations over more --clients`,
    );
  // At least two, so clients open segments of another process.
  return Math.max(Math.min(2, clients), Math.ceil(clients / perWorker));
}

function maxMapCount(): number {
  try {
    return Number(readFileSync("/proc/sys/vm/max_map_count", "utf8").trim()) || 65530;
  } catch {
    return 65530; // the kernel's default
  }
}

export async function runScale(plan: ScalePlan, signal: AbortSignal, progress: (message: string) => void) {
  // Each client is one socket in the arbiter and one in its worker; leave room for everything else.
  const openFiles = raiseOpenFileLimit(plan.clients + 1024);
  if (openFiles.after < plan.clients + 64)
    throw failure(
      "NoSpace",
      `connect ${plan.clients} clients`,
      `the open-file limit is ${openFiles.after} (hard limit ${openFiles.hard}): raise it with ulimit -n`,
    );
  if (openFiles.after > openFiles.before)
    progress(`raised the open-file limit (ulimit -n) from ${openFiles.before} to ${openFiles.after}`);
  const spec = { regionBytes: regionBytesFor(plan), blockBytes: BLOCK_BYTES, label: "scale" };
  const result = await BenchArbiter.with(spec, (arbiter) =>
    withChildren("run the scale benchmark", TIMEOUT_MS, (children) =>
      measure(plan, arbiter, children, signal, progress),
    ),
  );
  progress("scale: the same shape against a bare echo server (the floor)");
  return { ...result, openFiles, floorLatencyNs: summarize(await measureEchoFloor(plan)) };
}

/**
 * Room the state journal may take beside the region in /dev/shm: ~300 bytes a record, up to twice its
 * snapshot before a compaction, and that snapshot (unchecked, it took the region's room).
 */
export function journalBytesFor(plan: ScalePlan): number {
  return 512 * (plan.clients + plan.allocations + plan.seconds * plan.rate);
}

/** Room for the live segments, every client's transient ones, and headroom; a power of two. */
export function regionBytesFor(plan: ScalePlan): number {
  const blocks = plan.allocations + plan.clients * 8 + 1024;
  return Math.max(16 * MiB, powerOfTwoAtLeast(blocks * BLOCK_BYTES * 1.1));
}

async function measure(
  plan: ScalePlan,
  arbiter: BenchArbiter,
  children: Child[],
  signal: AbortSignal,
  progress: (message: string) => void,
) {
  const setupStarted = performance.now();
  const perWorker = Math.ceil(plan.clients / plan.workers);
  const perClientOfWorkers = Math.ceil(plan.allocations / (perWorker * plan.workers));
  progress(
    `scale: ${plan.workers} workers connect ${perWorker * plan.workers} clients and allocate ${perClientOfWorkers} segments each`,
  );
  const where = { socket: arbiter.socket, region: arbiter.region };
  const shape = { ...where, workers: plan.workers, seconds: plan.seconds };
  const peers = { "peer-clients": perWorker, "peer-per-client": perClientOfWorkers };
  const start = (worker: number, clients: number, perClient: number, rate: number, label: string) => {
    const flags = { ...shape, worker, clients, "per-client": perClient, rate, ...peers };
    return startWorker(children, "scale-load", flags, label);
  };
  for (let worker = 0; worker < plan.workers; worker++)
    start(worker, perWorker, perClientOfWorkers, plan.rate / plan.workers, `scale worker ${worker}`);
  // A process of ordinary size: its latency is the arbiter's, without a hundred-client worker's pauses.
  start(plan.workers, PROBE_CLIENTS, 1, PROBE_RATE, "scale probe");
  for (const child of children) await nextEvent(child, "ready");
  throwIfAborted(signal, "set up the scale benchmark");
  const setupSeconds = (performance.now() - setupStarted) / 1000;
  const ready = { memory: residentKiB(arbiter.pid), journal: statSync(arbiter.statePath).size };
  progress(
    `scale: ready after ${setupSeconds.toFixed(1)} s; ${plan.seconds} s of requests at ${plan.rate}/s`,
  );
  const compactionsBefore = (await fetchStatus({ unix: arbiter.socket }, 0)).report.compactions;
  const stopSampling = sampleRss(arbiter.pid);
  let loads: Event[];
  let peakRss: number;
  try {
    loads = await signalled(children, "SIGUSR1", "load");
  } finally {
    // Also when the load fails or is interrupted: a sampler left running kept the process from exiting.
    peakRss = stopSampling();
  }
  const end = { memory: residentKiB(arbiter.pid), journal: statSync(arbiter.statePath).size };
  const compactionsAfter = (await fetchStatus({ unix: arbiter.socket }, 0)).report.compactions;
  throwIfAborted(signal, "run the scale benchmark's requests");
  const latencyNs = latencyByOp(loads.slice(0, -1));
  progress("scale: kill -9 the arbiter and restart it on its state");
  const restart = await timeRestart(arbiter, children);
  return {
    plan,
    setupSeconds,
    // The load workers' (the plan's, rounded up to fill every worker) and the probe's.
    clientsConnected: perWorker * plan.workers + PROBE_CLIENTS,
    requests: latencyNs.all.count,
    // Requests not issued because every client of a worker was still waiting for an answer.
    skipped: loads.reduce((sum, load) => sum + numberField(load, "skipped"), 0),
    // Round trips of the load workers' clients, by operation; then the same mix from the probe.
    latencyNs,
    probeLatencyNs: latencyByOp(loads.slice(-1)),
    // All of the arbiter's resident memory (`rss`), and its private part (`anon`: heap, stacks; the rest is
    // its binary and the region's pages it touched, which are shared with every client and guest).
    arbiterKiB: { ready: ready.memory, peakRss: Math.max(peakRss, end.memory.rss), end: end.memory },
    journalBytes: { ready: ready.journal, end: end.journal },
    // Journal compactions the arbiter finished while the requests ran (each a helper process's work).
    compactionsDuringLoad: compactionsAfter - compactionsBefore,
    restart,
  };
}

function latencyByOp(loads: readonly Event[]): Record<ScaleOp | "all", Summary> {
  const byOp = SCALE_OPS.map((op) =>
    loads.flatMap((load) => (load.latencies as Record<string, number[]>)[op] ?? []),
  );
  const summaries = SCALE_OPS.map((op, index) => [op, summarize(byOp[index]!)]);
  return Object.fromEntries([...summaries, ["all", summarize(byOp.flat())]]);
}

/**
 * Kills and restarts the arbiter, timed from the new one's start until it answers and until every session
 * is back; then has the children check their sessions and segments.
 */
export async function timeRestart(arbiter: BenchArbiter, children: Child[]) {
  const endpoint = { unix: arbiter.socket };
  const before = (await fetchStatus(endpoint, 0)).report;
  const started = await arbiter.killAndRestart();
  const after = (await fetchStatus(endpoint, 0)).report;
  const answeredSeconds = (performance.now() - started) / 1000;
  // Every session (our status one too) back; a worker that died never brings its back: its report says how.
  for (let now = after; now.totals.connected < now.totals.clients; ) {
    if (children.some((child) => child.exited)) break;
    if (performance.now() - started > RESUME_TIMEOUT_MS)
      throw failure(
        "Timeout",
        "wait for the clients to resume after the restart",
        `${now.totals.connected - 1} of ${now.totals.clients - 1} came back in ${RESUME_TIMEOUT_MS / 1000} s`,
      );
    await Bun.sleep(5);
    now = (await fetchStatus(endpoint, 0)).report;
  }
  const resumedSeconds = (performance.now() - started) / 1000;
  const reports = await signalled(children, "SIGUSR2", "resumed");
  await Promise.all(children.map((child) => child.finish()));
  return {
    // From starting the new arbiter until it answered with every segment and a new epoch; until every
    // client's session was connected again.
    answeredSeconds,
    resumedSeconds,
    epochs: [before.epoch, after.epoch] as const,
    segments: [before.totals.segments, after.totals.segments] as const,
    // What the workers found: sessions resumed, and grants missing from them.
    clientsResumed: reports.reduce((sum, report) => sum + numberField(report, "resumed"), 0),
    segmentsMissing: reports.reduce((sum, report) => sum + numberField(report, "segmentsMissing"), 0),
  };
}

/** Sends every load process `signal` (the next phase starts in all at once) and reads its `event`. */
function signalled(loads: readonly Child[], signal: "SIGUSR1" | "SIGUSR2", event: string): Promise<Event[]> {
  // Child.kill passes over one that has exited (its pid is gone): its report then says how it ended.
  for (const load of loads) load.kill(signal);
  return Promise.all(loads.map((load) => nextEvent(load, event)));
}

function residentKiB(pid: number) {
  const { rssBytes, rssAnonBytes } = residentMemory(pid);
  return { rss: rssBytes / 1024, anon: rssAnonBytes / 1024 };
}

/** Samples the process's RSS until the returned function gives the peak; a process gone is skipped. */
function sampleRss(pid: number): () => number {
  let peak = residentKiB(pid).rss;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, residentKiB(pid).rss);
    } catch {
      // The arbiter exited; the run finds out and says so on its own path.
    }
  }, RSS_SAMPLE_MS);
  return () => {
    clearInterval(timer);
    return peak;
  };
}

/** The floor: 32-byte echoes from as many load processes and connections as the plan's, at its rate. */
async function measureEchoFloor(plan: ScalePlan): Promise<number[]> {
  const { path: dir, remove: removeDir } = benchDirectory(tmpdir(), "echo");
  const address = join(dir, "echo.sock");
  try {
    return await withChildren("measure the echo floor", FLOOR_TIMEOUT_MS, async (children) => {
      const server = startWorker(children, "echo-server", { address }, "echo server");
      await nextEvent(server, "ready");
      const clients = Math.ceil(plan.clients / plan.workers);
      const flags = { address, clients, rate: plan.rate / plan.workers, seconds: plan.seconds };
      const loads = Array.from({ length: plan.workers }, (_, index) =>
        startWorker(children, "echo-load", flags, `echo load ${index}`),
      );
      for (const load of loads) await nextEvent(load, "ready");
      const reports = await signalled(loads, "SIGUSR1", "load");
      return reports.flatMap((report) => (report.latencies as { echo?: number[] }).echo ?? []);
    });
  } finally {
    removeDir();
  }
}
