/**
 * The soak's hands: real processes (ivsh commands, pipe ends, workers) it can signal, freeze and wait for
 * within a bound, and the faults it injects into them at planned moments.
 */
import { execFileSync } from "node:child_process";
import { closeSync, constants, openSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { CLI } from "../helpers/paths.ts";
import type { Prng } from "../helpers/prng.ts";
import type { ArbiterProcess } from "../helpers/processes.ts";

export type FaultKind =
  | "SIGKILL"
  | "SIGINT"
  | "SIGTERM"
  | "stop-short"
  | "stop-long"
  | "ctrl-c"
  | "arbiter-kill9"
  | "arbiter-stop"
  | "scribble";

/** A fault planned for `atMs` after the scenario starts, against the named processes (none: the arbiter). */
export interface Fault {
  kind: FaultKind;
  targets: string[];
  atMs: number;
  /**
   * Instead of a moment: when the scenario's progress (e.g. bytes received) reaches this, so that the
   * fault lands mid-work however fast the machine is (the time then only bounds the wait for it).
   */
  atProgress?: number;
  /** How long a stop lasts. */
  holdMs?: number;
}

const PROGRESS_POLL_MS = 5;

export interface Exit {
  code: number | null;
  signal: string | null;
  /** Still running at the bound: the soak killed it. */
  hung: boolean;
}

/** A process of a scenario: its output, what was done to it, how it ended. */
export class Tracked {
  readonly stderr: Promise<string>;
  readonly stdout: Promise<string>;
  /** Signals the soak sent it, in order (a stop shows as "SIGSTOP-stop-short" or "SIGSTOP-stop-long"). */
  readonly received: string[] = [];
  exit: Exit | undefined;

  constructor(
    readonly name: string,
    /** ivsh processes are bound by the liveness rules; helpers (pipe ends) are only cleaned up. */
    readonly isIvsh: boolean,
    readonly proc: Subprocess<"ignore", "pipe", "pipe">,
  ) {
    this.stderr = new Response(proc.stderr).text();
    this.stdout = new Response(proc.stdout).text();
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  signal(name: NodeJS.Signals, label: string = name): boolean {
    if (!this.running) return false;
    this.received.push(label);
    this.proc.kill(name);
    return true;
  }

  wasSent(...labels: string[]): boolean {
    return this.received.some((label) => labels.includes(label));
  }

  /** Whether it ends within `ms` (it is left running if not). */
  async endsWithin(ms: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), ms);
    });
    const outcome = await Promise.race([this.proc.exited, late]);
    clearTimeout(timer);
    return outcome !== "late";
  }

  /** Waits for the end until `deadlineMs` (performance.now() clock); past it, kills and marks it hung. */
  async settle(deadlineMs: number): Promise<Exit> {
    const remaining = Math.max(0, deadlineMs - performance.now());
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), remaining);
    });
    const hung = (await Promise.race([this.proc.exited, late])) === "late";
    clearTimeout(timer);
    if (hung) {
      this.proc.kill("SIGCONT");
      this.proc.kill("SIGKILL");
      await this.proc.exited;
    }
    const { exitCode, signalCode } = this.proc;
    const exit: Exit = { code: hung ? null : exitCode, signal: signalCode ? String(signalCode) : null, hung };
    this.exit = exit;
    return exit;
  }

  /** JSON events it printed on stdout, one per line. */
  async events(): Promise<Record<string, unknown>[]> {
    const lines = (await this.stdout).split("\n").filter((line) => line.startsWith("{"));
    return lines.flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }
}

export interface SpawnSpec {
  name: string;
  argv: string[];
  isIvsh: boolean;
  /** Paths for stdin and stdout (files or FIFOs), opened by the child itself. */
  stdinFrom?: string;
  stdoutTo?: string;
  env?: Record<string, string>;
}

const live = new Set<Tracked>();

/** Kills whatever a scenario left running (after its own checks), or everything on the soak's Ctrl-C. */
export function killAllTracked(): void {
  for (const tracked of live) {
    tracked.proc.kill("SIGCONT");
    tracked.proc.kill("SIGKILL");
  }
  live.clear();
}

/** Starts a process; with redirections, through `sh -c exec` so the pid is the program's own. */
export function spawnTracked(spec: SpawnSpec): Tracked {
  const redirect = `${spec.stdinFrom ? ' < "$SOAK_IN"' : ""}${spec.stdoutTo ? ' > "$SOAK_OUT"' : ""}`;
  const argv = redirect ? ["sh", "-c", `exec "$@"${redirect}`, "sh", ...spec.argv] : spec.argv;
  const proc = Bun.spawn(argv, {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: {
      ...process.env,
      NO_COLOR: "1",
      ...spec.env,
      ...(spec.stdinFrom ? { SOAK_IN: spec.stdinFrom } : {}),
      ...(spec.stdoutTo ? { SOAK_OUT: spec.stdoutTo } : {}),
    },
  });
  const tracked = new Tracked(spec.name, spec.isIvsh, proc);
  live.add(tracked);
  proc.exited.then(() => {
    live.delete(tracked);
    // A pipe end killed before its shell opened the FIFO left the ivsh end's shell waiting in open(2) for
    // ever, where a real pipeline's end would see EOF or EPIPE: the soak reported that wait as ivsh hanging.
    if (spec.stdoutTo) standInAtFifo(spec.stdoutTo, constants.O_WRONLY);
    if (spec.stdinFrom) standInAtFifo(spec.stdinFrom, constants.O_RDONLY);
  });
  return tracked;
}

const STAND_IN_POLL_MS = 20;
const STAND_IN_MAX_MS = 120_000;

/**
 * Opens and closes the dead pipe end's side of its FIFO, again and again, until the scenario removes it: a
 * peer's open(2) then returns, and it reads EOF (or writes get EPIPE), as through a pipe whose other end
 * died. A writer's non-blocking open fails (ENXIO) until a reader waits; a reader's is held a moment only,
 * so a writer is let through without its writes being absorbed.
 */
async function standInAtFifo(path: string, side: number): Promise<void> {
  const until = performance.now() + STAND_IN_MAX_MS;
  while (performance.now() < until) {
    try {
      const fd = openSync(path, side | constants.O_NONBLOCK);
      await Bun.sleep(STAND_IN_POLL_MS);
      closeSync(fd);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENXIO") return; // the scenario's files are gone
    }
    await Bun.sleep(STAND_IN_POLL_MS);
  }
}

/** argv of an ivsh command, run from source as the tests run it. */
export function ivsh(...args: string[]): string[] {
  return [process.execPath, CLI, ...args];
}

export function soakScript(name: string, ...args: string[]): string[] {
  return [process.execPath, join(import.meta.dir, name), ...args];
}

export function makeFifo(path: string): string {
  execFileSync("mkfifo", [path]);
  return path;
}

/** Arbiter faults run one after the other: a restart must finish before the next kill. */
let arbiterFaults: Promise<unknown> = Promise.resolve();

function serialiseArbiterFault(apply: () => Promise<boolean>): Promise<boolean> {
  const applying = arbiterFaults.catch(() => {}).then(apply);
  arbiterFaults = applying;
  return applying;
}

/** Runs the planned faults; resolves when the last one (a stop included) is over. Returns those applied. */
export async function injectFaults(
  faults: Fault[],
  processes: Map<string, Tracked>,
  arbiter: ArbiterProcess,
  startedMs: number,
  progress: () => number = () => 0,
): Promise<Fault[]> {
  const applied: Fault[] = [];
  await Promise.all(
    faults.map(async (fault) => {
      await awaitMoment(fault, startedMs, progress);
      const targets = fault.targets.map((name) => processes.get(name)).filter((p) => p !== undefined);
      const applying = fault.kind.startsWith("arbiter-")
        ? serialiseArbiterFault(() => applyFault(fault, targets, arbiter))
        : applyFault(fault, targets, arbiter);
      if (await applying) applied.push(fault);
    }),
  );
  return applied;
}

/** Until the fault's moment: its progress mark (bounded by its time), or its time. */
async function awaitMoment(fault: Fault, startedMs: number, progress: () => number): Promise<void> {
  const until = startedMs + fault.atMs;
  if (fault.atProgress === undefined) return Bun.sleep(Math.max(0, until - performance.now()));
  while (progress() < fault.atProgress && performance.now() < until) await Bun.sleep(PROGRESS_POLL_MS);
}

async function applyFault(fault: Fault, targets: Tracked[], arbiter: ArbiterProcess): Promise<boolean> {
  switch (fault.kind) {
    case "SIGKILL":
    case "SIGINT":
    case "SIGTERM":
      return targets.map((target) => target.signal(fault.kind as NodeJS.Signals)).some(Boolean);
    // As a terminal does: the kernel queues SIGINT to the whole foreground pipeline in one call, so each
    // process holds it before any can see another's death. Sent one by one, the writer first, a loaded
    // machine could run the writer's death and the reader's EOF in between, and the reader (ivsh guest
    // send -) finish a stream no Ctrl-C had reached yet (seed 9420, scenario 264: a prefix kept, verified).
    // So the last in the pipeline first: a reader holds its SIGINT before its writer can close the pipe.
    case "ctrl-c":
      return [...targets]
        .reverse()
        .map((target) => target.signal("SIGINT", "ctrl-c"))
        .some(Boolean);
    case "stop-short":
    case "stop-long": {
      const stopped = targets.filter((target) => target.signal("SIGSTOP", `SIGSTOP-${fault.kind}`));
      await Bun.sleep(fault.holdMs ?? 0);
      for (const target of stopped) target.proc.kill("SIGCONT");
      return stopped.length > 0;
    }
    case "arbiter-kill9":
      await arbiter.kill9();
      await Bun.sleep(fault.holdMs ?? 0);
      await arbiter.restart();
      return true;
    case "arbiter-stop":
      arbiter.spawned.proc.kill("SIGSTOP");
      await Bun.sleep(fault.holdMs ?? 0);
      arbiter.spawned.proc.kill("SIGCONT");
      return true;
    case "scribble": // done by the scribbler process itself
      return false;
  }
}

/** A process-level fault for one of `targets`, at a random moment of the first `spanMs`. */
export function randomProcessFault(random: Prng, targets: string[], spanMs: number, leaseMs: number): Fault {
  const kind = random.weighted({
    SIGKILL: 4,
    SIGINT: 2,
    SIGTERM: 2,
    "stop-short": 2,
    "stop-long": 1,
  } as const);
  const fault: Fault = { kind, targets: [random.pick(targets)], atMs: random.int(spanMs) };
  if (kind === "stop-short") fault.holdMs = random.range(20, Math.floor(leaseMs / 3));
  if (kind === "stop-long") fault.holdMs = stopPastLeaseMs(leaseMs);
  return fault;
}

/** Long enough for the lease to run out and the arbiter's sweep (every quarter lease) to notice. */
export function stopPastLeaseMs(leaseMs: number): number {
  return Math.ceil(leaseMs * 1.5) + 500;
}

export function randomArbiterFault(random: Prng, spanMs: number, leaseMs: number): Fault {
  const kind = random.chance(0.5) ? "arbiter-kill9" : "arbiter-stop";
  const holdMs = kind === "arbiter-kill9" ? random.range(0, 1000) : random.range(50, leaseMs * 2);
  return { kind, targets: [], atMs: random.int(spanMs), holdMs };
}

export function describeFault(fault: Fault): string {
  const hold = fault.holdMs !== undefined ? ` for ${fault.holdMs} ms` : "";
  const whom = fault.targets.length > 0 ? ` ${fault.targets.join("+")}` : "";
  const when = fault.atProgress !== undefined ? `progress ${fault.atProgress}` : `${fault.atMs} ms`;
  return `${fault.kind}${whom} at ${when}${hold}`;
}
