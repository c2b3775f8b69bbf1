/**
 * The scale benchmark's floor: the same shape without ivsh. `echo-server` answers every request on a
 * Unix socket with its own bytes; `echo-load` is a load process like scale-load (its connections, the
 * same open-loop pacing and timing) whose requests are 32-byte echoes. Measured in the same run, after
 * the arbiter has stopped, so the ratio of the two tails says how much of ivsh's is its own.
 *
 * Both load processes pace their requests open loop: they leave on a fixed schedule, whether or not
 * earlier ones were answered, and each is timed from when it was due. A closed loop (send, wait, send)
 * would slow down with the server and hide exactly the stalls the benchmark is after.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchDirectory, withChildren } from "./child.ts";
import { emit, MessageLink, nextEvent, startWorker, type WorkerFlags } from "./worker-io.ts";

/** A connection of a load process: it carries one request at a time. */
export interface LoadConnection {
  busy: boolean;
}

/**
 * Sends `rate` requests a second for `seconds`, each on an idle connection picked from a random start (so
 * none is favoured), timed by the name `send` resolves with (the operation it performed). A request due
 * while every connection is busy is skipped and counted. Resolves once every request has settled.
 *
 * Each is timed from when it was due, not from when it left: a process running late (its own collector,
 * the CPU) delays its requests as much as a slow server would, and an open-loop load must count that
 * rather than hide it.
 */
export async function openLoad<C extends LoadConnection>(
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
 * Resolves on `name`; call before announcing readiness, as these signals' default action ends a process.
 * A timer is kept while waiting: when a signal listener is all that keeps Bun's event loop alive, the loop
 * polls without blocking (2.0 s of CPU in 2 s, Bun 1.4.5), and ten idle workers spun both cores while the
 * scale benchmark set up and restarted.
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
const FLOOR_TIMEOUT_MS = 5 * 60_000;

export async function runEchoServer(flags: WorkerFlags): Promise<void> {
  const listener = Bun.listen({
    unix: flags.string("address"),
    socket: { data: (socket, bytes) => void socket.write(bytes) },
  });
  emit({ event: "ready" });
  await new Promise((resolve) => process.once("SIGTERM", resolve));
  listener.stop(true);
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

/** The parent's side: the floor with `processes` × `clients` connections at `rate` for `seconds`. */
export async function measureEchoFloor(shape: {
  processes: number;
  clients: number;
  rate: number;
  seconds: number;
}): Promise<number[]> {
  const { path: dir, remove: removeDir } = benchDirectory(tmpdir(), "echo");
  const address = join(dir, "echo.sock");
  try {
    return await withChildren("measure the echo floor", FLOOR_TIMEOUT_MS, async (children) => {
      const server = startWorker(children, "echo-server", { address }, "echo server");
      await nextEvent(server, "ready");
      const { clients, seconds } = shape;
      const flags = { address, clients, rate: shape.rate / shape.processes, seconds };
      const loads = Array.from({ length: shape.processes }, (_, index) =>
        startWorker(children, "echo-load", flags, `echo load ${index}`),
      );
      for (const load of loads) await nextEvent(load, "ready");
      for (const load of loads) process.kill(load.pid, "SIGUSR1");
      const reports = await Promise.all(loads.map((load) => nextEvent(load, "load")));
      return reports.flatMap((report) => (report.latencies as { echo?: number[] }).echo ?? []);
    });
  } finally {
    removeDir();
  }
}
