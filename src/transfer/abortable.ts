/**
 * A request to the arbiter that a channel end's signal may end. A request made while the link is down (or
 * sent just before it dropped) waits for the resume, up to the reconnect timeout (30 s): a Ctrl-C then
 * went unheeded that long. The signal now ends the wait; the request stays queued, and what it got if it
 * is answered after all (a slot handle, a segment) is given back (`undo`), so nothing is left held.
 */
import { abortedError } from "../errors.ts";

export function abortable<T>(
  request: Promise<T>,
  signal: AbortSignal | undefined,
  action: string,
  undo: (result: T) => Promise<unknown>,
): Promise<T> {
  if (!signal) return request;
  return new Promise<T>((resolve, reject) => {
    let ended = false;
    const onAbort = () => {
      if (ended) return;
      ended = true;
      reject(abortedError(signal, action));
      // Answered after all: ours to give back; failed: nothing was taken.
      request.then(
        (result) => undo(result).catch(() => {}),
        () => {},
      );
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    request.then(
      (result) => {
        signal.removeEventListener("abort", onAbort);
        if (ended) return;
        ended = true;
        resolve(result);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        if (ended) return;
        ended = true;
        reject(error);
      },
    );
  });
}
