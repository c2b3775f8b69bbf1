/**
 * Waits the transport gives up on (./transport.ts): an answer from the arbiter within a time, or until a
 * signal aborts, and a connection's establishment within a time.
 */
import { abortedError, failure, throwIfAborted } from "../errors.ts";
import { describeEndpoint, type Endpoint } from "./link-errors.ts";

/**
 * `answer`, unless `ms` pass or `signal` aborts first: then ArbiterUnreachable ("Failed to VERB the arbiter
 * at ENDPOINT since WHY (its process may be stopped, or overloaded)", or since what `cutShort` says then, if
 * anything: part of an answer came) or the abort's error (`interrupted` names what it interrupted). The
 * answer given up on is rejected later, when its link closes: not unhandled.
 */
export async function answerWithin<T>(
  endpoint: Endpoint,
  answer: Promise<T>,
  ms: number,
  signal: AbortSignal | undefined,
  [verb, interrupted]: [string, string],
  why: string,
  cutShort?: () => string | undefined,
): Promise<T> {
  answer.catch(() => undefined); // given up on, it is rejected later when the link closes
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const givenUp = new Promise<never>((_, reject) => {
    const action = `${verb} the arbiter at ${describeEndpoint(endpoint)}`;
    const stalled = () => cutShort?.() ?? `${why} (its process may be stopped, or overloaded)`;
    timer = setTimeout(() => reject(failure("ArbiterUnreachable", action, stalled())), ms);
    onAbort = () => reject(abortedError(signal, interrupted));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
  try {
    throwIfAborted(signal, interrupted);
    return await Promise.race([answer, givenUp]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  }
}

/** `promise`, or an Error "there was no answer within MS ms" once `ms` pass. */
export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`there was no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
