/**
 * A channel end's calls run one at a time, in the order they were made, as a socket's writes do: a
 * program need not await one before making the next. Each call of an end used the ring as it found it
 * when it began: two writes in flight at once interleaved their bytes (verified by the receiver as sent),
 * a send beside a write filled the same chunk, a finish beside a write ended the stream before its
 * bytes, and two receives handed the same chunk twice. `close()` is left out: it must end a waiting call.
 * A call made from inside a callback of a call on the same end (a send filler that awaits a write) would
 * wait for the call it is inside for ever: it is refused instead.
 */
import type { AsyncLocalStorage } from "node:async_hooks";
import { failure } from "../errors.ts";

interface Turns {
  /** Settles when the next call may begin: once the last call queued so far has (or began, if final). */
  last: Promise<unknown>;
  pending: number;
}

const queues = new WeakMap<object, Turns>();
/**
 * The calls the running code is inside of (their callbacks included), outermost first. Made when the first
 * callback runs: until then no code can be inside one. Loading node:async_hooks costs a process ~0.6 ms of
 * start-up, which a sender that only writes (`ivsh guest send`) never needs.
 */
let inside: AsyncLocalStorage<readonly Call[]> | undefined;
/** A call on `end`, done once it no longer waits for its callback. */
type Call = { end: object; done: boolean };

/** Callbacks whose caller vouched that they make no call on the end they are given to (makesNoCalls). */
const noCalls = new WeakSet<object>();

/**
 * Marks `callback` as making no call on the end it is given to (a consumer that only writes each chunk
 * out): it then runs as it is, outside any context, and a process whose callbacks are all so never loads
 * node:async_hooks (`ivsh guest recv`). A marked callback that does call the end is not refused but waits
 * for its own call for ever: mark only what plainly cannot.
 */
export function makesNoCalls<T extends (...args: never[]) => unknown>(callback: T): T {
  noCalls.add(callback);
  return callback;
}

type AsyncMethod = (...args: never[]) => Promise<unknown>;
type AsyncMethodName<T> = { [K in keyof T]: T[K] extends AsyncMethod ? K : never }[keyof T] & string;

/**
 * Makes each of `names` (async methods of `prototype`), and `final`, wait for the calls on the same object
 * before it. A call made after `final` (the sender's finish, which waits long for the receiver's verdict)
 * waits only until `final` has begun, and is refused then (finish marks the stream ended as it begins).
 */
export function oneAtATime<T extends object>(
  prototype: T,
  names: AsyncMethodName<T>[],
  final?: AsyncMethodName<T>,
): void {
  for (const name of final ? [...names, final] : names) {
    const method = prototype[name] as (...args: unknown[]) => Promise<unknown>;
    Object.defineProperty(prototype, name, {
      configurable: true,
      writable: true,
      value(this: object, ...args: unknown[]): Promise<unknown> {
        const outer = inside?.getStore() ?? [];
        if (outer.some((call) => call.end === this && !call.done))
          return Promise.reject(
            failure(
              "InvalidArgument",
              `call ${name}() on channel '${(this as { name?: string }).name}'`,
              "it was made inside a callback of another call on the same end, which waits for that callback " +
                "to return: make it once that call has returned",
            ),
          );
        const turns = queues.get(this) ?? { last: Promise.resolve(), pending: 0 };
        queues.set(this, turns);
        const call = { end: this, done: false };
        // Only a callback (send's filler, receive's consumer) can make a call from inside this one: each runs
        // in the context that says so. The method's own waits run outside it, as an awaited promise costs
        // more in a context (the receiver's CPU time rose by a fifth with the whole receive() inside).
        // Calls that are over are left out: a callback that makes the next call from a timer (a pump) would
        // have each call's context hold every one before it, copied at each call (quadratic in chunks).
        const within = [...outer.filter((earlier) => !earlier.done), call];
        const inCall = args.map((arg) =>
          typeof arg === "function" && !noCalls.has(arg)
            ? (...inner: unknown[]) => callInside(within, call, () => arg.apply(undefined, inner))
            : arg,
        );
        const run = () => method.apply(this, inCall);
        // Nothing in flight: the call starts at once, as it did before it had to queue.
        const idle = turns.pending === 0;
        const result = idle ? run() : turns.last.then(run);
        turns.pending++;
        const over = () => {
          turns.pending--;
          call.done = true;
        };
        const settled = result.then(over, over);
        turns.last = name !== final ? settled : idle ? Promise.resolve() : turns.last.then(() => undefined);
        return result;
      },
    });
  }
}

/**
 * Runs a call's callback inside `within`. Once it has returned (its promise, if any, settled) the call no
 * longer waits for it: a call it left scheduled (a microtask, a timer) and made then is queued, not refused.
 */
function callInside(within: readonly Call[], call: Call, callback: () => unknown): unknown {
  const returned = () => {
    call.done = true;
  };
  let value: unknown;
  try {
    inside ??= new (require("node:async_hooks") as typeof import("node:async_hooks")).AsyncLocalStorage();
    value = inside.run(within, callback);
  } catch (error) {
    returned();
    throw error;
  }
  if (typeof (value as PromiseLike<unknown> | null)?.then !== "function") {
    returned();
    return value;
  }
  const settled = Promise.resolve(value);
  settled.then(returned, returned);
  return settled;
}
