/**
 * How long a waiting call of a mutex or condvar (lock(), acquire(), wait()) may wait, and what may end it
 * early: a number of milliseconds, or `{ timeoutMs, signal }`. Without a signal an application could not
 * give up a wait on its own terms (Ctrl-C, a request cancelled) short of closing the whole client.
 */
import { failure, throwIfAborted } from "../errors.ts";
import { WAIT_FOREVER } from "../protocol/messages.ts";
import { shownNumber } from "../units.ts";

/** What bounds a wait for a lock or a notify. */
export interface WaitOptions {
  /** Milliseconds ≥ 0 before the wait ends (left out or Infinity: no limit). */
  timeoutMs?: number;
  /**
   * Ends the wait when aborted, aborted before the call included: an `Interrupted` error (`Timeout` for
   * `AbortSignal.timeout()`; the reason itself if that is an IvshError). A condvar's `wait()` still takes
   * its lock again first, and returns "owner-died" instead if taking it says so (the signal stays aborted).
   */
  signal?: AbortSignal;
}

/** A wait's bound, checked: `timeoutMs` is WAIT_FOREVER for none. */
export interface WaitBound {
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
}

export const UNBOUNDED: WaitBound = { timeoutMs: WAIT_FOREVER, signal: undefined };

/**
 * `timeout` (a number of milliseconds, or WaitOptions) checked for `action`; throws if its signal is
 * aborted already, so that an aborted call takes nothing, not even a free lock.
 */
export function waitBound(timeout: unknown, action: string): WaitBound {
  if (timeout === WAIT_FOREVER || timeout === undefined) return UNBOUNDED;
  if (typeof timeout !== "object" || timeout === null)
    return { timeoutMs: checkTimeout(timeout, action), signal: undefined };
  if (Array.isArray(timeout))
    throw failure("InvalidArgument", action, "its argument is an array, not { timeoutMs, signal }");
  // Read as options, an AbortSignal holds neither field, and `{ timeout }` no bound: both waited for ever.
  if (timeout instanceof AbortSignal)
    throw failure("InvalidArgument", action, "its argument is an AbortSignal: pass { signal }");
  const unknown = Object.keys(timeout).filter((key) => key !== "timeoutMs" && key !== "signal");
  if (unknown.length > 0)
    throw failure(
      "InvalidArgument",
      action,
      `its options hold ${unknown.map((key) => `'${key.slice(0, 40)}'`).join(", ")}, which it does not take (timeoutMs, signal only)`,
    );
  const { timeoutMs, signal } = timeout as WaitOptions;
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw failure("InvalidArgument", action, `its signal ${describe(signal)} is not an AbortSignal`);
  throwIfAborted(signal, action);
  return { timeoutMs: timeoutMs === undefined ? WAIT_FOREVER : checkTimeout(timeoutMs, action), signal };
}

/** performance.now() at which a wait begun at `startedMs` gives up (Infinity: never). */
export function deadlineOf(startedMs: number, timeoutMs: number): number {
  return timeoutMs === WAIT_FOREVER ? Number.POSITIVE_INFINITY : startedMs + timeoutMs;
}

/**
 * A timeout that is not a number of milliseconds ≥ 0 is refused: NaN made every deadline test false, so
 * the wait spun on the event loop's thread until the lease was gone (Infinity waits for ever).
 */
function checkTimeout(timeoutMs: unknown, action: string): number {
  if (typeof timeoutMs === "number" && timeoutMs >= 0) return timeoutMs;
  throw failure(
    "InvalidArgument",
    action,
    `its timeout ${describe(timeoutMs)} is not a number of milliseconds ≥ 0 (leave it out to wait for ever)`,
  );
}

function describe(value: unknown): string {
  if (typeof value === "number") return shownNumber(value);
  // JSON.stringify throws on a BigInt: lock(100n) failed with a TypeError, not this refusal.
  if (typeof value === "bigint") return `${value}n`;
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? String(value);
  return Array.isArray(value) ? "(an array)" : "(an object)";
}
