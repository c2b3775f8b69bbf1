/**
 * The one worker protocol: `--flag value` pairs in, a JSON object per line out (`emit`), read in order by
 * the parent (`nextEvent`), each field checked (a changed worker fails there, not as NaN in a table). And
 * what workers share: a client of the arbiter, the unused words of a sync slot, and a clock.
 */
import { writeSync } from "node:fs";
import { failure } from "../errors.ts";
import type { Client } from "../guest/client.ts";
import { connect } from "../guest/connect.ts";
import type { ConnectOptions } from "../guest/connect-options.ts";
import { selfCommand } from "../self.ts";
import { parseSize } from "../units.ts";
import { type Child, startChild, waitUntil } from "./child.ts";

export type Event = { readonly event: string } & Record<string, unknown>;

/** Written synchronously so a worker that exits right after cannot lose its last line. */
export function emit(event: Event): void {
  writeSync(1, `${JSON.stringify(event)}\n`);
}

/** The next line of `child`, a JSON object: the event `name`, or without `name` a command's --json report. */
export async function nextEvent(child: Child, name?: string): Promise<Event> {
  const line = await child.nextLine();
  const read = `read the ${child.label}'s report`;
  let parsed: Event;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw failure("Internal", read, `'${line.slice(0, 80)}' is not JSON`);
  }
  if (name !== undefined && parsed?.event !== name)
    throw failure("Internal", read, `it said '${String(parsed?.event)}' before '${name}'`);
  return parsed;
}

/** The last event of each child (`[child, name]` pairs, read in parallel), once all have exited cleanly. */
export async function finalEvents<T extends [Child, string?][]>(...expected: T) {
  const events = await Promise.all(expected.map(([child, name]) => nextEvent(child, name)));
  await Promise.all(expected.map(([child]) => child.finish()));
  return events as { [K in keyof T]: Event };
}

function field<T>(event: Event, name: string, is: (value: unknown) => boolean, what: string): T {
  if (!is(event[name]))
    throw failure("Internal", `read the '${event.event}' report`, `its '${name}' is not ${what}`);
  return event[name] as T;
}

export function stringField(event: Event, name: string): string {
  return field(event, name, (value) => typeof value === "string", "a string");
}

export function numberField(event: Event, name: string): number {
  return field(event, name, (value) => typeof value === "number" && Number.isFinite(value), "a number");
}

export function numbersField(event: Event, name: string): number[] {
  const isNumbers = (value: unknown) =>
    Array.isArray(value) && value.every((item) => typeof item === "number");
  return field(event, name, isNumbers, "a list of numbers");
}

const isCount = (value: number) => Number.isSafeInteger(value) && value > 0;

/** Typed access to a worker's `--flag value` pairs; one missing or malformed is refused, naming it. */
export class WorkerFlags {
  private readonly flags = new Map<string, string>();

  constructor(
    readonly role: string,
    argv: readonly string[],
  ) {
    for (let index = 0; index < argv.length; index += 2) {
      const [name = "", value] = [argv[index], argv[index + 1]];
      if (!name.startsWith("--") || value === undefined)
        throw failure(
          "InvalidArgument",
          "start a bench worker",
          `'${name}' is not a --flag followed by a value`,
        );
      this.flags.set(name.slice(2), value);
    }
  }

  optional(name: string): string | undefined {
    return this.flags.get(name);
  }

  string(name: string): string {
    return this.checked(name, (value) => value, "");
  }

  size(name: string): number {
    return parseSize(this.string(name), `--${name}`);
  }

  count(name: string): number {
    return this.checked(name, Number, "not a positive count", isCount);
  }

  number(name: string): number {
    return this.checked(name, Number, "not a number", Number.isFinite);
  }

  private checked<T>(name: string, parse: (value: string) => T, what: string, valid = (_: T) => true): T {
    const value = this.flags.get(name);
    const fail = (reason: string) => failure("InvalidArgument", `start the ${this.role} worker`, reason);
    if (value === undefined) throw fail(`--${name} is missing`);
    const parsed = parse(value);
    if (!valid(parsed)) throw fail(`--${name} is ${what}`);
    return parsed;
  }
}

export type Flags = Record<string, string | number | undefined>;

/** Flags as argv: `{bytes: 5}` → `["--bytes", "5"]`; undefined values are left out. */
export function flagArgv(flags: Flags): string[] {
  return Object.entries(flags).flatMap(([name, value]) =>
    value === undefined ? [] : [`--${name}`, String(value)],
  );
}

let names = 0;

/** A name (of a channel, slot or socket) no earlier measurement of this process used: no state carries over. */
export function freshChannel(prefix: string): string {
  return `${prefix}-${process.pid}-${++names}`;
}

/** Starts `ivsh bench-worker ROLE --flag value ...` as one of `children`; one of a pair named by its side. */
export function startWorker(children: Child[], role: string, flags: Flags, label?: string): Child {
  const named = label ?? `${role}${flags.side === undefined ? "" : ` ${flags.side}`} worker`;
  return startChild(children, [...selfCommand(), "bench-worker", role, ...flagArgv(flags)], named);
}

/** Gives the event loop a turn every `everyMs`: a loop of resolved awaits never lets replies or timers run. */
export function yielder(everyMs = 20): () => Promise<void> {
  let last = performance.now();
  return async () => {
    if (performance.now() - last < everyMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    last = performance.now();
  };
}

/*
 * A clock two processes can compare (Bun.nanoseconds() counts from each one's start): agreeing within
 * ±0.25 µs, far below a parked hand-off's tens of µs; spinning hand-offs are timed on one clock instead.
 */
export function sharedClockMs(): number {
  return performance.timeOrigin + performance.now();
}

/** The step of the shared clock: one unit in the last place of a double holding today's time in ms. */
export function sharedClockResolutionNs(): number {
  return 2 ** (Math.floor(Math.log2(sharedClockMs())) - 52) * 1e6;
}

/** Stays on the core for `ms`, as a running process would: waking a halted vCPU costs tens of µs. */
export function busyWait(ms: number): void {
  const until = Bun.nanoseconds() + ms * 1e6;
  while (Bun.nanoseconds() < until) {}
}

/** Where a worker finds the arbiter: explicit flags on the host; nothing in a guest (the device is found). */
export function workerConnectOptions(flags: WorkerFlags, name: string): ConnectOptions {
  const [socket, region, resource] = ["socket", "region", "resource"].map((flag) => flags.optional(flag));
  return {
    name,
    ...(socket ? { socket } : {}),
    ...(region ? { region } : {}),
    ...(resource === "resource2" || resource === "resource2_wc" ? { resource } : {}),
  };
}

/** Runs `work` with a client connected with `options`, closed however `work` ends. */
export async function withClient<T>(
  options: ConnectOptions,
  work: (client: Client) => Promise<T>,
): Promise<T> {
  const client = await connect(options);
  try {
    return await work(client);
  } finally {
    await client.close();
  }
}

/** `withClient` for a worker: connected as its flags say, plus `options`. */
export function withWorkerClient<T>(
  flags: WorkerFlags,
  name: string,
  work: (client: Client) => Promise<T>,
  options: Partial<ConnectOptions> = {},
): Promise<T> {
  return withClient({ ...workerConnectOptions(flags, name), ...options }, work);
}

/** Each of `parties` workers counts itself in on `words[index]` and waits, sleeping, until all are there. */
export async function meet(words: Int32Array, index: number, parties: number): Promise<void> {
  Atomics.add(words, index, 1);
  await waitUntil(() => Atomics.load(words, index) >= parties, "the other workers", 30_000, 1);
}

/** `count` float64 stamps over the slot words from `word` on (8-byte aligned: slots are 64-byte aligned). */
export function stampsAt(words: Int32Array, word: number, count: number): Float64Array {
  return new Float64Array(words.buffer, words.byteOffset + word * 4, count);
}
