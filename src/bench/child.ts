/**
 * Child processes of the benchmarks: read line by line, failing with their stderr, and always ended (by
 * their own pid) when their work fails or times out, or the run is interrupted (`killAllChildren`).
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { describeSystemError, failure } from "../errors.ts";
import { keepingIgnored } from "../signals.ts";

/** Every child still running, so an interrupt can end them all without knowing who started them. */
const running = new Set<Child>();

/** Ends every child of this process that is still running (Ctrl-C, SIGTERM; SIGKILL when it must be now). */
export function killAllChildren(signal: NodeJS.Signals = "SIGTERM"): void {
  for (const child of running) child.kill(signal);
}

/**
 * SIGTERM to every child, SIGKILL after `graceMs`; resolves once all have exited: one that missed the first
 * signal (starting, or handling another) would keep its parent waiting on its pipes.
 */
export async function stopAllChildren(graceMs: number): Promise<void> {
  await Promise.all([...running].map((child) => child.stop(graceMs)));
}

/** Less NOTIFY_SOCKET: an `ivsh host` the bench starts under systemd would report READY=1 as the unit's. */
function inheritedEnv(): Record<string, string | undefined> {
  const { NOTIFY_SOCKET: _, ...rest } = process.env;
  return rest;
}

export class Child {
  private readonly process: Subprocess<"ignore", "pipe", "pipe">;
  private readonly lines: AsyncGenerator<string, undefined>;
  /** Read from the start: a child that fills the stderr pipe unread would block and look like a hang. */
  private readonly stderr: Promise<string>;
  /** What it was started for (`withChildren`'s action): its failure names that, not a worker's role. */
  purpose?: string;
  /** Lines of its stderr left out of `lastWords` (launch.sh's QEMU command line buried what went wrong). */
  unsaid?: RegExp;

  constructor(
    command: readonly string[],
    readonly label: string,
    /** Added to this process's environment. */
    env: Record<string, string> = {},
  ) {
    // A stop signal this process ignores (SIGINT, for a script's `ivsh bench &`), its children ignore too.
    this.process = Bun.spawn(keepingIgnored(command), {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...inheritedEnv(), ...env },
    });
    running.add(this);
    void this.process.exited.then(() => running.delete(this));
    this.lines = lines(this.process.stdout);
    this.stderr = new Response(this.process.stderr).text();
  }

  /** The next stdout line; a child that exits first is a failure that carries its stderr. */
  async nextLine(): Promise<string> {
    const line = await this.lines.next();
    if (!line.done) return line.value;
    await this.finish();
    throw failure(
      "PeerGone",
      `read from the ${this.label}${this.purposeText()}`,
      "it exited without a report",
    );
  }

  /** Waits for a clean exit; a non-zero code becomes an error with the child's own words. */
  async finish(): Promise<void> {
    const code = await this.process.exited;
    if (code === 0) return;
    const words = (await this.lastWords()) || "no output";
    throw failure(
      "PeerGone",
      `run the ${this.label}${this.purposeText()}`,
      `${this.howItEnded(code)}: ${words}`,
    );
  }

  /** "it exited with code 137 (killed by SIGKILL)", once it has exited with `code`. */
  howItEnded(code: number): string {
    const signal = this.process.signalCode;
    return `it exited with code ${code}${signal ? ` (killed by ${signal})` : ""}`;
  }

  /** Whether a signal ended it (its stderr then holds no dying words, only what it said while running). */
  get signalled(): boolean {
    return this.process.signalCode !== null;
  }

  private purposeText(): string {
    return this.purpose ? ` to ${this.purpose}` : "";
  }

  get exited(): boolean {
    return this.process.exitCode !== null || this.process.signalCode !== null;
  }

  kill(signal: NodeJS.Signals = "SIGTERM"): void {
    if (!this.exited) this.process.kill(signal);
  }

  /** SIGTERM, then SIGKILL if it lingers past `graceMs`; resolves once it has exited. */
  async stop(graceMs: number): Promise<void> {
    this.kill();
    // A timer cleared once the child exits: a pending one would keep this process alive for its length.
    const lingering = Promise.withResolvers<boolean>();
    const timer = setTimeout(() => lingering.resolve(false), graceMs);
    const stopped = await Promise.race([this.process.exited.then(() => true), lingering.promise]);
    clearTimeout(timer);
    if (!stopped) {
      this.kill("SIGKILL");
      await this.process.exited;
    }
  }

  get pid(): number {
    return this.process.pid;
  }

  /** Resolves with the exit code (or signal-killed code) without judging it. */
  get exitedWith(): Promise<number> {
    return this.process.exited;
  }

  /** The child's stderr so far, once it has exited (its last words, for error messages). */
  async lastWords(): Promise<string> {
    return (await this.saidLines()).slice(-5).join(" | ");
  }

  /** Every line of its stderr but the `unsaid` ones, once it has exited. */
  async saidLines(): Promise<string[]> {
    const lines = (await this.stderr).trim().split("\n");
    return this.unsaid ? lines.filter((line) => !this.unsaid!.test(line)) : lines;
  }
}

/** The stream's lines as they arrive; a last line without its newline is not one. */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string, undefined> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const bytes of stream) {
    const parts = (buffered + decoder.decode(bytes, { stream: true })).split("\n");
    buffered = parts.pop()!;
    yield* parts;
  }
}

/**
 * Runs `work` with every child it starts registered in `children`; on failure or after `timeoutMs` all
 * of them are killed, so a stuck transfer never outlives the benchmark.
 */
export async function withChildren<T>(
  action: string,
  timeoutMs: number,
  work: (children: Child[]) => Promise<T>,
): Promise<T> {
  const children: Child[] = [];
  purposes.set(children, action);
  const expired = Promise.withResolvers<never>();
  const late = failure("Timeout", action, `it took longer than ${Math.round(timeoutMs / 1000)} s`);
  const timer = setTimeout(() => expired.reject(late), timeoutMs);
  try {
    return await Promise.race([work(children), expired.promise]);
  } finally {
    clearTimeout(timer);
    // Awaited: a child still removing its files (the echo server its socket) made the caller's rmSync of
    // their directory give up without a word, leaving it in /tmp.
    await Promise.all(children.map((child) => child.stop(CHILD_STOP_GRACE_MS)));
  }
}

const CHILD_STOP_GRACE_MS = 5000;

const purposes = new WeakMap<Child[], string>();

/** Starts `command` as one of `children`: `withChildren` ends it with the work that started it. */
export function startChild(
  children: Child[],
  command: readonly string[],
  label: string,
  env: Record<string, string> = {},
): Child {
  const child = new Child(command, label, env);
  child.purpose = purposes.get(children);
  children.push(child);
  return child;
}

/** Polls every `intervalMs` until `ready` holds: for what announces itself only by existing or answering. */
export async function waitUntil(
  ready: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
  intervalMs = 2,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline)
      throw failure("Timeout", `wait for ${what}`, `it was not ready within ${timeoutMs} ms`);
    await Bun.sleep(intervalMs);
  }
}

/*
 * Everything a run leaves behind (arbiters, workers, regions) is registered here, so it is removed however
 * the run ends: normally, by an error, or by Ctrl-C (measurements check the AbortSignal between steps).
 */
type Action = () => void;

const actions = new Set<Action>();

/** Runs `action` at cleanup unless the returned function is called first (the owner cleaned up itself). */
export function onCleanup(action: Action): () => void {
  actions.add(action);
  return () => actions.delete(action);
}

/** A new directory ivsh-bench-KIND-PID-XXXXXX (which process left it) under `parent`, removed at cleanup. */
export function benchDirectory(parent: string, kind: string): { path: string; remove: () => void } {
  const path = pidDirectory(parent, `ivsh-bench-${kind}`);
  const remove = () => rmSync(path, { recursive: true, force: true });
  const forget = onCleanup(remove);
  return {
    path,
    remove: () => {
      forget();
      remove();
    },
  };
}

/** A new directory NAME-PID-XXXXXX under `parent`; one that cannot be made is named, with what to do. */
export function pidDirectory(parent: string, name: string): string {
  const template = join(parent, `${name}-${process.pid}-`);
  try {
    return mkdtempSync(template);
  } catch (error) {
    const reason = describeSystemError(error)?.replace(/^Failed to .*? since /, "") ?? String(error);
    const remedy =
      parent === tmpdir()
        ? "set TMPDIR to a directory you can write"
        : `make ${parent} a directory you can write`;
    throw failure("SystemCall", `make the directory ${template}XXXXXX`, `${reason}: ${remedy}`);
  }
}

/** Runs every registered action, newest first; one that fails does not stop the others. */
export function cleanupNow(): void {
  for (const action of [...actions].reverse()) {
    actions.delete(action);
    try {
      action();
    } catch {
      // Best effort: a directory that is already gone is fine.
    }
  }
}
