/**
 * Open-loop request pacing for the scale benchmark's processes: requests leave on a fixed schedule,
 * whether or not earlier ones were answered, and each is timed from when it was due. A closed loop (send,
 * wait, send) would slow down with the server and hide exactly the stalls the benchmark is after.
 */

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

/** Resolves on `name`; call before announcing readiness, as these signals' default action ends a process. */
export function signal(name: "SIGUSR1" | "SIGUSR2"): Promise<void> {
  return new Promise((resolve) => process.once(name, () => resolve()));
}
