/**
 * Open-loop request pacing for the scale benchmark's processes: requests leave on a fixed schedule,
 * whether or not earlier ones were answered, and each is timed from when it was due. A closed loop (send,
 * wait, send) would slow down with the server and hide exactly the stalls the benchmark is after.
 */

export interface OpenLoopResult {
  /** Requests not sent because every connection still waited for an answer. */
  skipped: number;
}

/**
 * Calls `issue(dueMs)` `rate` times a second for `seconds`; `issue` returns the request's promise, or
 * undefined when it had no idle connection to send it on. Resolves once every request has settled.
 */
export async function openLoop(
  seconds: number,
  rate: number,
  issue: (dueMs: number) => Promise<void> | undefined,
): Promise<OpenLoopResult> {
  const intervalMs = 1000 / rate;
  const pending = new Set<Promise<void>>();
  let skipped = 0;
  const startMs = performance.now();
  for (let issued = 0; issued * intervalMs <= seconds * 1000; issued++) {
    const dueMs = startMs + issued * intervalMs;
    const waitMs = dueMs - performance.now();
    if (waitMs > 1) await Bun.sleep(waitMs);
    const request = issue(dueMs);
    if (!request) {
      skipped++;
      continue;
    }
    pending.add(request);
    void request.finally(() => pending.delete(request));
  }
  await Promise.all(pending);
  return { skipped };
}

/** Nanoseconds since a request was due; one sent early (the last millisecond is not slept) counts from now. */
export function sinceDueNs(dueMs: number, sentMs: number): number {
  return Math.round((performance.now() - Math.min(dueMs, sentMs)) * 1e6);
}

/** Resolves on `name`; call before announcing readiness, as these signals' default action ends a process. */
export function signal(name: "SIGUSR1" | "SIGUSR2"): Promise<void> {
  return new Promise((resolve) => process.once(name, () => resolve()));
}
