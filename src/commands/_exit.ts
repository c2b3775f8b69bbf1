/**
 * Exit codes, decided in one place: 0 success, 1 the operation failed, 2 the command line is wrong, 3
 * (`ivsh status --check` only) the arbiter answered and names problems, and 128 + the signal's number when
 * a signal interrupted the operation (SIGHUP 129, SIGINT 130, SIGTERM 143), as shells report a process
 * killed by it.
 */
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
/**
 * Not 1: a watchdog that restarts an arbiter that does not answer must not restart one that answers with
 * its journal's disk full (a restart would not mend that, and drops every connection).
 */
export const EXIT_PROBLEMS = 3;

import { ignoredAtStart, SIGNAL_NUMBERS, type StopSignal } from "../signals.ts";

let listened: StopSignal[] | undefined;

/**
 * The stop signals ivsh listens for: those not ignored when it started (../signals.ts). A signal the parent
 * left ignored stays ignored, as POSIX tools keep it: a script's `ivsh ... &` has SIGINT ignored so that a
 * Ctrl-C meant for the foreground job does not reach the background one too (it is in the same process
 * group), and `nohup` ignores SIGHUP.
 */
function listenedSignals(): StopSignal[] {
  if (listened) return listened;
  const ignored = ignoredAtStart();
  listened = (Object.keys(SIGNAL_NUMBERS) as StopSignal[]).filter((name) => !ignored.includes(name));
  return listened;
}

let firstSignal: StopSignal | undefined;

/** Records the first stop signal this process received; its exit code follows it. */
function noteSignal(signal: StopSignal): void {
  firstSignal ??= signal;
}

/** The exit code of an interrupted operation: SIGINT's unless another signal came first. */
export function interruptedExitCode(): number {
  return 128 + SIGNAL_NUMBERS[firstSignal ?? "SIGINT"];
}

/** A stop signal held (see `holdStopSignals`) until a command claims the signals; at most the first. */
let held: StopSignal | undefined;
let holding = false;

function hold(name: NodeJS.Signals): void {
  noteSignal(name as StopSignal);
  held ??= name as StopSignal;
}

/**
 * For a command that claims the stop signals once it runs (`ivsh host`): from the first line of the
 * executable, a stop signal is kept for that claim instead of ending the process abruptly. A signal
 * ignored at start is neither held nor claimed: it stays ignored (`listenedSignals`). Only the runtime's
 * own start-up (before any of our code runs) remains without a handler.
 */
export function holdStopSignals(): void {
  if (holding) return;
  holding = true;
  for (const name of listenedSignals()) process.on(name, hold);
}

/** The first stop signal this process received, if any (one held before a command claimed them too). */
export function receivedStopSignal(): StopSignal | undefined {
  return firstSignal;
}

/** Hands a held signal to the handler that claims the signals, after the caller has its uninstaller. */
function releaseHeld(listener: (name: NodeJS.Signals) => void): void {
  if (!holding) return;
  holding = false;
  for (const name of listenedSignals()) process.off(name, hold);
  const signal = held;
  held = undefined;
  if (signal) queueMicrotask(() => listener(signal));
}

/**
 * Calls `handler` on SIGHUP (a closed terminal or ssh session), SIGINT and SIGTERM, after noting the
 * signal for the exit code. `once`: the first signal uninstalls it, so a second one has its default
 * effect (a second Ctrl-C ends a process whose clean-up hangs). A signal held since start-up is handed to
 * it. Returns what uninstalls it.
 */
export function onStopSignals(handler: (signal: StopSignal) => void, { once = false } = {}): () => void {
  const uninstall = () => {
    for (const name of listenedSignals()) process.off(name, listener);
  };
  const listener = (name: NodeJS.Signals) => {
    const signal = name as StopSignal;
    noteSignal(signal);
    if (once) uninstall();
    handler(signal);
  };
  for (const name of listenedSignals()) process.on(name, listener);
  releaseHeld(listener);
  return uninstall;
}
