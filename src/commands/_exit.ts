/**
 * Exit codes, decided in one place: 0 success, 1 the operation failed, 2 the command line is wrong, and
 * 128 + the signal's number when a signal interrupted the operation (SIGHUP 129, SIGINT 130, SIGTERM
 * 143), as shells report a process killed by it.
 */
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

const SIGNAL_NUMBERS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;
export type StopSignal = keyof typeof SIGNAL_NUMBERS;
const STOP_SIGNALS = Object.keys(SIGNAL_NUMBERS) as StopSignal[];

let firstSignal: StopSignal | undefined;

/** Records the first stop signal this process received; its exit code follows it. */
function noteSignal(signal: StopSignal): void {
  firstSignal ??= signal;
}

/** The exit code of an interrupted operation: SIGINT's unless another signal came first. */
export function interruptedExitCode(): number {
  return 128 + SIGNAL_NUMBERS[firstSignal ?? "SIGINT"];
}

/**
 * Calls `handler` on SIGHUP (a closed terminal or ssh session), SIGINT and SIGTERM, after noting the
 * signal for the exit code. `once`: the first signal uninstalls it, so a second one has its default
 * effect (a second Ctrl-C ends a process whose clean-up hangs). Returns what uninstalls it.
 */
export function onStopSignals(handler: (signal: StopSignal) => void, { once = false } = {}): () => void {
  const uninstall = () => {
    for (const name of STOP_SIGNALS) process.off(name, listener);
  };
  const listener = (name: NodeJS.Signals) => {
    const signal = name as StopSignal;
    noteSignal(signal);
    if (once) uninstall();
    handler(signal);
  };
  for (const name of STOP_SIGNALS) process.on(name, listener);
  return uninstall;
}
