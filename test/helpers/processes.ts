/**
 * Real processes for tests: the arbiter (`ivsh host`) and client fixtures, each its own OS process, so
 * kill -9, SIGSTOP and crashes are the real thing. Fixtures report progress as JSON lines on stdout.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { socketAnswers } from "../../src/host/listener.ts";
import { asParentOfArbiter } from "../../src/host/parent.ts";
import { CLI, FIXTURES, type TestPaths } from "./paths.ts";
import { tracked } from "./reaper.ts";

export type Proc = Subprocess<"pipe", "pipe", "pipe">;

/** Reads a process's stdout as JSON events, one per line; other lines are kept for error messages. */
export class EventStream {
  private buffer = "";
  private readonly events: Record<string, unknown>[] = [];
  private readonly waiters: (() => void)[] = [];
  readonly lines: string[] = [];
  private ended = false;
  /** Resolves when the stream has ended and every line is in `lines`. */
  readonly finished: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.finished = this.pump(stream);
  }

  get text(): string {
    return this.lines.map((line) => `${line}\n`).join("");
  }

  private async pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      this.buffer += decoder.decode(chunk, { stream: true });
      let newline = this.buffer.indexOf("\n");
      while (newline >= 0) {
        this.take(this.buffer.slice(0, newline));
        this.buffer = this.buffer.slice(newline + 1);
        newline = this.buffer.indexOf("\n");
      }
    }
    this.ended = true;
    this.notify();
  }

  private take(line: string): void {
    this.lines.push(line);
    if (line.startsWith("{")) {
      try {
        this.events.push(JSON.parse(line));
      } catch {}
    }
    this.notify();
  }

  private notify(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  /** The first event with `event === name` (already seen or yet to come). */
  async next(name: string, timeoutMs = 20_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.events.findIndex((event) => event.event === name);
      if (index >= 0) return this.events.splice(index, 1)[0]!;
      if (this.ended) throw new Error(`stream ended before '${name}'; output:\n${this.lines.join("\n")}`);
      const remaining = deadline - Date.now();
      if (remaining <= 0)
        throw new Error(`no '${name}' within ${timeoutMs} ms; output:\n${this.lines.join("\n")}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

/**
 * How long a test waits for a process to end. It stays well inside bun's per-test timeout: a test that
 * hits bun's timeout has every process spawned so far killed, its file's shared arbiter included, and the
 * tests after it fail for no fault of theirs. Ending the wait here fails only the test that waited.
 */
export const EXIT_BOUND_MS = 25_000;

/**
 * A bound for what the lease guarantees (a dead peer noticed, a frozen client expired): the lease, the
 * arbiter's sweep, and a margin that a loaded 2-core CI machine (one core busy, a dozen processes
 * starting) keeps. Tests never assert tighter times; speed is the benchmarks' business.
 */
export function livenessBoundMs(leaseMs: number): number {
  return 2 * leaseMs + 10_000;
}

export interface Spawned {
  proc: Proc;
  events: EventStream;
  stderr: Promise<string>;
  /** The exit code once the process ends; if it has not within `boundMs`, kills it and throws saying so (and what /proc showed it doing). */
  exit(boundMs?: number): Promise<number>;
}

/** A bun process of its own, killed if still running when the next test file starts (./reaper.ts). */
export function spawnBun(args: string[], env: Record<string, string> = {}): Spawned {
  const proc = tracked(
    Bun.spawn([process.execPath, ...withExitWithParent(args)], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      // Its parent is this process, which the arbiter's --exit-with-parent then knows even if it died first.
      env: { ...process.env, NO_COLOR: "1", ...(isHost(args) ? asParentOfArbiter() : {}), ...env },
    }),
  );
  const stderr = new Response(proc.stderr).text();
  const exit = (boundMs = EXIT_BOUND_MS) => exitWithin(proc, boundMs, args, stderr);
  return { proc, events: new EventStream(proc.stdout), stderr, exit };
}

/**
 * `ivsh host` dies with the test runner even if a test never stops it (a refusal test whose arbiter
 * started after all): the flag goes right after the command, where it parts no flag from its value.
 */
function withExitWithParent(args: string[]): string[] {
  if (!isHost(args) || args.includes("--exit-with-parent")) return args;
  return [...args.slice(0, 2), "--exit-with-parent", ...args.slice(2)];
}

function isHost(args: string[]): boolean {
  return args[0] === CLI && args[1] === "host";
}

/**
 * The exit code, or "late" if `proc` has not exited within `boundMs` (it is then killed, and reaped);
 * `beforeKill` runs first, while the late process can still be looked at.
 */
export async function exitOrKill(
  proc: { exited: Promise<number>; kill(signal?: number | NodeJS.Signals): void },
  boundMs: number,
  beforeKill?: () => void,
): Promise<number | "late"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), boundMs);
  });
  const outcome = await Promise.race([proc.exited, late]);
  clearTimeout(timer);
  if (outcome !== "late") return outcome;
  beforeKill?.();
  proc.kill("SIGKILL");
  await proc.exited;
  return "late";
}

async function exitWithin(proc: Proc, boundMs: number, args: string[], stderr: Promise<string>) {
  let seen = "";
  const outcome = await exitOrKill(proc, boundMs, () => {
    seen = processState(proc.pid);
  });
  if (outcome !== "late") return outcome;
  const command = args.map((arg) => arg.replace(/^.*\/(src|test)\//, "$1/")).join(" ");
  throw new Error(
    `'${command}' did not exit within ${boundMs} ms (killed it; ${seen}); stderr:\n${await stderr}`,
  );
}

/**
 * What a late process was doing, from /proc: stopped (T: a SIGCONT never sent), running (R: a spin), or
 * asleep in the kernel function named (S in do_epoll_wait: its event loop waited for what never came).
 * A hang seen once in a CI run printed nothing on stderr, and which of these it was had to be guessed.
 */
function processState(pid: number): string {
  try {
    const state = /^State:\s*(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? "unknown";
    const wchan = readFileSync(`/proc/${pid}/wchan`, "utf8").trim();
    return `it was ${state}${wchan && wchan !== "0" ? ` in ${wchan}` : ""}`;
  } catch (error) {
    return `its /proc entry could not be read: ${error}`;
  }
}

/** Runs test/fixtures/NAME.ts with a JSON config as its one argument. */
export function spawnFixture(
  name: string,
  config: Record<string, unknown>,
  env: Record<string, string> = {},
): Spawned {
  return spawnBun([join(FIXTURES, `${name}.ts`), JSON.stringify(config)], env);
}

export async function runCli(args: string[], env: Record<string, string> = {}) {
  const spawned = spawnBun([CLI, ...args], env);
  const [exitCode, stderr] = await Promise.all([
    spawned.proc.exited,
    spawned.stderr,
    spawned.events.finished,
  ]);
  return { exitCode, stdout: spawned.events.text, stderr };
}

export interface ArbiterFlags {
  size?: string;
  blockSize?: string;
  lease?: string;
  slots?: string;
  extra?: string[];
  /** Added to the arbiter's environment (e.g. IVSH_HANDOVER_TTL_MS). */
  env?: Record<string, string>;
}

export class ArbiterProcess {
  /** Set when the arbiter was found dead without a test having stopped it: `stop()` then fails the file. */
  private unexpectedExit: string | undefined;
  private expectingExit = false;

  private constructor(
    readonly paths: TestPaths,
    readonly flags: ArbiterFlags,
    public spawned: Spawned,
  ) {}

  static async start(paths: TestPaths, flags: ArbiterFlags = {}): Promise<ArbiterProcess> {
    const arbiter = new ArbiterProcess(paths, flags, ArbiterProcess.spawn(paths, flags));
    await arbiter.ready();
    return arbiter;
  }

  private static spawn(paths: TestPaths, flags: ArbiterFlags): Spawned {
    return spawnBun(
      [
        CLI,
        "host",
        "--exit-with-parent",
        "--region",
        paths.region,
        "--socket",
        paths.socket,
        "--state",
        paths.state,
        "--size",
        flags.size ?? "16MiB",
        "--block-size",
        flags.blockSize ?? "64KiB",
        "--lease",
        flags.lease ?? "5s",
        "--slots",
        flags.slots ?? "64",
        ...(flags.extra ?? []),
      ],
      flags.env,
    );
  }

  /** Waits until the socket accepts connections. */
  private async ready(): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (this.spawned.proc.exitCode !== null)
        throw new Error(`arbiter exited: ${await this.spawned.stderr}`);
      const connected = await socketAnswers(this.paths.socket);
      if (connected) return;
      await Bun.sleep(20);
    }
    throw new Error("arbiter did not start listening within 15 s");
  }

  get pid(): number {
    return this.spawned.proc.pid;
  }

  async kill9(): Promise<void> {
    this.expectingExit = true;
    this.spawned.proc.kill("SIGKILL");
    await this.spawned.proc.exited;
  }

  async restart(): Promise<void> {
    this.expectingExit = false;
    this.spawned = ArbiterProcess.spawn(this.paths, this.flags);
    await this.ready();
  }

  /**
   * For beforeEach: an arbiter that died under an earlier test (bun's timeout kills every process a
   * timed-out test left, this one included) is restarted, so that failure stays that test's alone; the
   * death is remembered and reported by `stop()`.
   */
  async revive(): Promise<void> {
    const { proc } = this.spawned;
    if (proc.exitCode === null && proc.signalCode === null) return;
    if (!this.expectingExit)
      this.unexpectedExit ??=
        `the arbiter exited (code ${proc.exitCode}, signal ${proc.signalCode}) without a test stopping it; ` +
        `stderr:\n${await this.spawned.stderr}`;
    await this.restart();
  }

  async stop(): Promise<void> {
    this.expectingExit = true;
    const { proc } = this.spawned;
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
    await this.spawned.exit();
    if (this.unexpectedExit) throw new Error(this.unexpectedExit);
  }
}

export function clientConfig(paths: TestPaths, extra: Record<string, unknown> = {}) {
  return { socket: paths.socket, region: paths.region, ...extra };
}

/** Polls `check` until it returns true; throws naming `what` if it has not within `boundMs`. */
export async function eventually(
  check: () => Promise<boolean>,
  boundMs: number,
  what: string,
): Promise<void> {
  const deadline = performance.now() + boundMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`${what} did not happen within ${boundMs} ms`);
    await Bun.sleep(50);
  }
}

/**
 * What `stream` said up to the first time `said` holds of it (a string it contains), or all of it if it
 * ended first; the stream stays readable after.
 */
export async function readUntil(
  stream: ReadableStream<Uint8Array>,
  said: string | ((text: string) => boolean),
): Promise<string> {
  const enough = typeof said === "string" ? (text: string) => text.includes(said) : said;
  const decoder = new TextDecoder();
  const reader = stream.getReader();
  let text = "";
  while (!enough(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  reader.releaseLock();
  return text;
}
