/**
 * Exit codes, decided in one place: 0 success, 1 the operation failed, 2 the command line is wrong, and
 * 128 + the signal's number when a signal interrupted the operation (SIGHUP 129, SIGINT 130, SIGTERM
 * 143), as shells report a process killed by it.
 */
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

const SIGNAL_NUMBERS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;
export type StopSignal = keyof typeof SIGNAL_NUMBERS;

let firstSignal: StopSignal | undefined;

/** Records the first stop signal this process received; its exit code follows it. */
export function noteSignal(signal: StopSignal): void {
  firstSignal ??= signal;
}

/** The exit code of an interrupted operation: SIGINT's unless another signal came first. */
export function interruptedExitCode(): number {
  return 128 + SIGNAL_NUMBERS[firstSignal ?? "SIGINT"];
}
