/**
 * What an operation leaves behind in this process: the timers it made through the globals (a timer left
 * holds the process alive for its whole time) and its listeners on a signal (a listener left grows with
 * every call made under a long-lived signal). A file using `watchTimers` restores the globals with
 * `afterEach(restoreTimers)`.
 */

const made: { timer: ReturnType<typeof setTimeout>; cleared: boolean }[] = [];
const originals = { setTimeout: globalThis.setTimeout, clearTimeout: globalThis.clearTimeout };

/** From now on, records every timer made through the globals and whether it was cleared since. */
export function watchTimers(): void {
  made.length = 0;
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    const timer = originals.setTimeout(...args);
    made.push({ timer, cleared: false });
    return timer;
  }) as unknown as typeof setTimeout;
  globalThis.clearTimeout = ((timer?: ReturnType<typeof setTimeout>) => {
    for (const entry of made) if (entry.timer === timer) entry.cleared = true;
    originals.clearTimeout(timer);
  }) as typeof clearTimeout;
}

/** For each timer made since `watchTimers()`, in order: whether it was cleared. */
export function timersCleared(): boolean[] {
  return made.map((entry) => entry.cleared);
}

/** The globals as they were, and every timer made meanwhile cleared (none may fire into the next test). */
export function restoreTimers(): void {
  Object.assign(globalThis, originals);
  for (const { timer } of made) originals.clearTimeout(timer);
}

/** A signal whose listeners are counted: added minus removed. */
export function countedSignal() {
  const controller = new AbortController();
  const signal = controller.signal;
  let listening = 0;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((...args: Parameters<typeof add>) => {
    listening++;
    add(...args);
  }) as typeof add;
  signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
    listening--;
    remove(...args);
  }) as typeof remove;
  return { controller, signal, listening: () => listening };
}
