/**
 * The load processes of `ivsh bench --scale` (docs/bench/scale.md). `scale-load`: `--clients` clients with
 * `--per-client` one-block segments each; on SIGUSR1 the request mix, latencies by operation; on SIGUSR2
 * (after the arbiter's restart) whether each resumed with its segments. `echo-server` and `echo-load`: the
 * same shape without ivsh, 32-byte echoes, the floor. Both load open loop, timed from when each request was
 * due: a closed loop would slow down with the server and hide the stalls the benchmark is after.
 */
import type { Client } from "../guest/client.ts";
import { connect } from "../guest/connect.ts";
import type { Segment } from "../guest/segment.ts";
import { SlotWord } from "../region/layout.ts";
import { listenOn, MessageLink } from "./sockets.ts";
import { emit, type WorkerFlags, workerConnectOptions } from "./worker-io.ts";

/** Share of each operation in the mix, in percent. */
const MIX = { alloc: 20, free: 20, open: 20, status: 10, wait: 15, wake: 15 } as const;
export type ScaleOp = keyof typeof MIX;
export const SCALE_OPS = Object.keys(MIX) as ScaleOp[];
/** Transient segments (allocated or opened in the mix) a client keeps before it frees one instead. */
const MAX_TRANSIENT = 4;
/** How long a parked waiter sleeps unwoken before it parks again. */
const PARK_TIMEOUT_MS = 5_000;
/** Clients connecting or allocating at once: enough to fill the pipe, few enough to keep sockets sane. */
const SETUP_CONCURRENCY = 16;

/** Where this worker sits among the others: segment names are derived from it, so any client can open any. */
interface Shape {
  readonly worker: number;
  readonly workers: number;
  /** Clients of every load worker and the segments each allocated, any of which a client may open. */
  readonly peerClients: number;
  readonly peerPerClient: number;
}

interface LoadClient extends LoadConnection {
  readonly client: Client;
  readonly index: number;
  /** The condvar slot, and its words, this client and its partner (index ^ 1) share; even clients park on it. */
  readonly slot: number;
  readonly words: Int32Array;
  readonly transient: Segment[];
  /** Names of the segments in `transient` this client opened (it may not open one twice). */
  readonly opened: Set<string>;
  readonly own: Segment[];
}

export async function runScaleLoad(flags: WorkerFlags): Promise<void> {
  // Listening before "ready": these signals' default action would end the process.
  const loadSignal = signal("SIGUSR1");
  const resumeSignal = signal("SIGUSR2");
  const worker = flags.number("worker");
  const [workers, peerClients, peerPerClient] = ["workers", "peer-clients", "peer-per-client"].map(
    flags.count,
    flags,
  );
  const shape: Shape = {
    worker,
    workers: workers!,
    peerClients: peerClients!,
    peerPerClient: peerPerClient!,
  };
  const perClient = flags.count("per-client");
  const clients = await inBatches(flags.count("clients"), (index) => openClient(flags, worker, index));
  await inBatches(clients.length, (index) => allocateOwn(clients[index]!, worker, perClient));
  emit({ event: "ready", clients: clients.length, segments: perClient * clients.length });
  await loadSignal;
  emit({ event: "load", ...(await runMix(clients, flags, shape)) });
  await resumeSignal;
  emit({ event: "resumed", ...(await checkResumed(clients)) });
  await Promise.all(clients.map(({ client }) => client.close()));
}

async function openClient(flags: WorkerFlags, worker: number, index: number): Promise<LoadClient> {
  const options = workerConnectOptions(flags, `scale w${worker} c${index}`);
  // Futex parking would keep waits off the arbiter, which is what this load is meant to exercise.
  const client = await connect({ ...options, futexParking: false, reconnectTimeoutMs: 120_000 });
  const { slot } = await client.openSlot(`scale-w${worker}-pair${index >> 1}`, "condvar", true);
  const words = client.slotWords(slot);
  return { client, index, slot, words, transient: [], opened: new Set(), own: [], busy: false };
}

async function allocateOwn(load: LoadClient, worker: number, count: number): Promise<void> {
  for (let k = 0; k < count; k++)
    load.own.push(await load.client.alloc({ blocks: 1 }, { name: segmentName(worker, load.index, k) }));
}

function segmentName(worker: number, client: number, k: number): string {
  return `scale-w${worker}-c${client}-s${k}`;
}

async function runMix(clients: LoadClient[], flags: WorkerFlags, shape: Shape) {
  let running = true;
  const parked = clients.filter((load) => load.index % 2 === 0).map((load) => parkLoop(load, () => running));
  const load = await openLoad(flags.number("seconds"), flags.number("rate"), clients, (client) =>
    perform(client, pickOp(client), shape),
  );
  running = false;
  // Parked waiters wake on their own within PARK_TIMEOUT_MS; wake them now instead.
  for (const client of clients) if (client.index % 2 === 1) bump(client);
  await Promise.all(parked);
  return load;
}

function pickOp(load: LoadClient): ScaleOp {
  let roll = Math.random() * 100;
  const op =
    SCALE_OPS.find((candidate) => {
      roll -= MIX[candidate];
      return roll < 0;
    }) ?? "wake";
  // Keep each client's transient holdings between 0 and MAX_TRANSIENT.
  if ((op === "alloc" || op === "open") && load.transient.length >= MAX_TRANSIENT) return "free";
  if (op === "free" && load.transient.length === 0) return "alloc";
  return op;
}

/** Runs `op`; returns what it ran (an open finding nothing it may open asks for the status instead). */
async function perform(load: LoadClient, op: ScaleOp, shape: Shape): Promise<ScaleOp> {
  const { client } = load;
  switch (op) {
    case "alloc":
      load.transient.push(await client.alloc({ blocks: 1 }));
      return op;
    case "free": {
      const segment = load.transient.shift()!;
      load.opened.delete(segment.name);
      await segment.free();
      return op;
    }
    case "open": {
      const name = openable(load, shape);
      if (name === undefined) {
        await client.status(0);
        return "status";
      }
      load.opened.add(name);
      load.transient.push(await client.open(name, "read"));
      return op;
    }
    case "status":
      await client.status(0);
      return op;
    case "wait": {
      // A wait whose word has already moved on: the arbiter's full wait path, answered at once.
      const current = Atomics.load(load.words, SlotWord.sequence);
      await client.waitWord(load.slot, SlotWord.sequence, current + 1, 1);
      return op;
    }
    case "wake":
      Atomics.add(load.words, SlotWord.sequence, 1);
      await client.wakeWordAnswered(load.slot, SlotWord.sequence, 1);
      return op;
  }
}

/**
 * A load worker's segment, read-only (readers never conflict with its writing creator), that this
 * client neither made nor holds: a few random picks, undefined if all of them were.
 */
function openable(load: LoadClient, shape: Shape): string | undefined {
  for (let pick = 0; pick < 4; pick++) {
    const name = segmentName(
      Math.floor(Math.random() * shape.workers),
      Math.floor(Math.random() * shape.peerClients),
      Math.floor(Math.random() * shape.peerPerClient),
    );
    const own = name.startsWith(`scale-w${shape.worker}-c${load.index}-`);
    if (!own && !load.opened.has(name)) return name;
  }
  return undefined;
}

/** An even client keeps one wait parked in the arbiter on its pair's slot, so the wait queue is full. */
async function parkLoop(load: LoadClient, running: () => boolean): Promise<void> {
  while (running()) {
    const current = Atomics.load(load.words, SlotWord.sequence);
    await load.client.waitWord(load.slot, SlotWord.sequence, current, PARK_TIMEOUT_MS);
  }
}

function bump(load: LoadClient): void {
  Atomics.add(load.words, SlotWord.sequence, 1);
  load.client.wakeWord(load.slot, SlotWord.sequence, 1);
}

/** After the arbiter's restart: each client's session resumed (not a new one) and its segments kept. */
async function checkResumed(clients: LoadClient[]) {
  let resumed = 0;
  let segmentsMissing = 0;
  const counts = await inBatches(clients.length, async (index) => {
    const load = clients[index]!;
    const report = await load.client.status(1, load.client.clientId);
    return { reconnected: load.client.reconnects > 0, grants: report.clients[0]?.grants ?? 0, load };
  });
  for (const { reconnected, grants, load } of counts) {
    if (reconnected && !load.client.lost) resumed++;
    segmentsMissing += Math.max(0, load.own.length + load.transient.length - grants);
  }
  return { resumed, segmentsMissing };
}

/** Runs `task(i)` for i in 0..count-1, SETUP_CONCURRENCY at a time, keeping the results in order. */
async function inBatches<T>(count: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  const lane = async () => {
    for (let index = next++; index < count; index = next++) results[index] = await task(index);
  };
  await Promise.all(Array.from({ length: Math.min(SETUP_CONCURRENCY, count) }, lane));
  return results;
}

/** A connection of a load process: it carries one request at a time. */
export interface LoadConnection {
  busy: boolean;
}

/**
 * Sends `rate` requests a second for `seconds`, each on an idle connection from a random start, timed under
 * the name `send` resolves with from when it was due (a process running late counts as a slow server
 * would). One due while every connection is busy is skipped and counted.
 */
async function openLoad<C extends LoadConnection>(
  seconds: number,
  rate: number,
  connections: readonly C[],
  send: (connection: C) => Promise<string>,
): Promise<{ latencies: Record<string, number[]>; skipped: number }> {
  const latencies: Record<string, number[]> = {};
  const intervalMs = 1000 / rate;
  const pending = new Set<Promise<void>>();
  let skipped = 0;
  const startMs = performance.now();
  for (let issued = 0; issued * intervalMs <= seconds * 1000; issued++) {
    const dueMs = startMs + issued * intervalMs;
    const waitMs = dueMs - performance.now();
    if (waitMs > 1) await Bun.sleep(waitMs);
    const connection = idle(connections);
    if (!connection) {
      skipped++;
      continue;
    }
    connection.busy = true;
    const sentMs = performance.now();
    const request = send(connection)
      .then((name) => {
        latencies[name] ??= [];
        latencies[name].push(sinceDueNs(dueMs, sentMs));
      })
      .finally(() => {
        connection.busy = false;
      });
    pending.add(request);
    void request.finally(() => pending.delete(request));
  }
  await Promise.all(pending);
  return { latencies, skipped };
}

function idle<C extends LoadConnection>(connections: readonly C[]): C | undefined {
  const start = Math.floor(Math.random() * connections.length);
  for (let step = 0; step < connections.length; step++) {
    const connection = connections[(start + step) % connections.length]!;
    if (!connection.busy) return connection;
  }
  return undefined;
}

/** Nanoseconds since a request was due; one sent early (the last millisecond is not slept) counts from now. */
function sinceDueNs(dueMs: number, sentMs: number): number {
  return Math.round((performance.now() - Math.min(dueMs, sentMs)) * 1e6);
}

/**
 * Resolves on `name`; call before announcing readiness (the default action ends a process). A timer keeps
 * the event loop blocking: with a signal listener alone Bun's loop polled, spinning a core per worker.
 */
export function signal(name: "SIGUSR1" | "SIGUSR2"): Promise<void> {
  return new Promise((resolve) => {
    const keepWaiting = setInterval(() => {}, 60_000);
    process.once(name, () => {
      clearInterval(keepWaiting);
      resolve();
    });
  });
}

const REQUEST_BYTES = 32;

export async function runEchoServer(flags: WorkerFlags): Promise<void> {
  const listener = listenOn(flags.string("address"), false, {
    data: (socket, bytes) => void socket.write(bytes),
  });
  emit({ event: "ready" });
  await new Promise((resolve) => process.once("SIGTERM", resolve));
  listener.stop();
}

export async function runEchoLoad(flags: WorkerFlags): Promise<void> {
  const loadSignal = signal("SIGUSR1");
  // A request is one write of 32 bytes and may come back in pieces: it is answered when all of it is back.
  const connect = () => MessageLink.connect(flags.string("address"), false, REQUEST_BYTES, "the echo server");
  const links = await Promise.all(Array.from({ length: flags.count("clients") }, connect));
  const connections = links.map((link) => ({ link, busy: false }));
  emit({ event: "ready" });
  await loadSignal;
  const request = new Uint8Array(REQUEST_BYTES);
  const load = await openLoad(flags.number("seconds"), flags.number("rate"), connections, async (idle) => {
    idle.link.send(request);
    await idle.link.next();
    return "echo";
  });
  emit({ event: "load", ...load });
  for (const link of links) link.close();
}
