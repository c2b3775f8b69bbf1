/**
 * Work the arbiter does for itself in pieces, so that requests are answered in between. The sweep's scans
 * go over every slot and every parked waiter each second; at 1 000 clients and 500 parked waits they took
 * 1–2 ms at a stretch, and every request that arrived meanwhile waited that long (the scale benchmark's
 * tail: docs/bench/scale.md). Run a slice at a time, no request waits behind more than one slice.
 */

/** How long the arbiter's own work may hold the event loop before it lets waiting requests in. */
export const SLICE_MS = 0.25;

/** Items a scan goes through between two looks at the clock (a look costs more than an item). */
export const ITEMS_PER_YIELD = 32;

/** Lets the event loop read and answer what arrived meanwhile, then resumes (a macrotask, after I/O). */
export function yieldToRequests(): Promise<void> {
  return new Promise((resume) => setImmediate(resume));
}

export interface SliceOptions {
  /** True once the work must not go on (the arbiter stopping: the region may be unmapped). */
  stopped: () => boolean;
  sliceMs?: number;
  now?: () => number;
}

/**
 * Runs `work` (a generator that yields between items) to its end, yielding to requests whenever it has
 * held the event loop for a slice. Returns its result, or undefined if it was stopped before its end.
 */
export async function runInSlices<T>(
  work: Generator<unknown, T>,
  options: SliceOptions,
): Promise<T | undefined> {
  const { stopped, sliceMs = SLICE_MS, now = () => performance.now() } = options;
  let sliceStart = now();
  for (;;) {
    if (stopped()) return undefined;
    const step = work.next();
    if (step.done) return step.value;
    if (now() - sliceStart < sliceMs) continue;
    await yieldToRequests();
    sliceStart = now();
  }
}

/** Runs `work` to its end at once: for callers that need the result now (tests, a one-off check). */
export function runAtOnce<T>(work: Generator<unknown, T>): T {
  for (;;) {
    const step = work.next();
    if (step.done) return step.value;
  }
}

/**
 * Runs each of `steps`, each on its own: one that throws is rethrown from a timer of its own (reported as
 * a bug, as before) after the others ran. The sweep's steps are independent; a look at a file the operator
 * made unreadable threw at every sweep, and the lease expiry after it never ran.
 */
export function eachOnItsOwn(steps: ReadonlyArray<() => unknown>): void {
  for (const step of steps) {
    try {
      step();
    } catch (error) {
      setTimeout(() => {
        throw error;
      });
    }
  }
}
