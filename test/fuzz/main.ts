/**
 * The frame fuzzer: its own arbiter (a real `ivsh host` process), a status monitor, pairs of honest worker
 * processes, and fuzz connections in parallel lanes until the frame budget is spent. Afterwards the
 * arbiter must hold nothing of the fuzz sessions, stop cleanly, and have logged no internal error.
 *
 *   bun test/fuzz/main.ts --frames N [--seed S] [--json FILE] [--concurrency K] [--liveness MS]
 *                         [--no-honest] [--replay C [--trace]]
 *
 * prints every violation with its seed, connection and frame (and the command that replays it), and ends
 * with one line: `fuzz: N frames, C connections, V violations`. Exits 1 if V > 0.
 */
import { writeFileSync } from "node:fs";
import { computeGeometry } from "../../src/region/layout.ts";
import { parseDuration, parseSize } from "../../src/units.ts";
import { type TestPaths, testPaths } from "../helpers/paths.ts";
import { ArbiterProcess } from "../helpers/processes.ts";
import { HonestRounds } from "./honest.ts";
import { Monitor } from "./monitor.ts";
import { FuzzStats, formatViolation, jsonReport, type RunSummary, summaryLine, WHOLE_RUN } from "./report.ts";
import { runConnection } from "./scenarios.ts";
import { FuzzSession, type RunContext, TokenBook } from "./session.ts";

export interface FuzzOptions {
  frames: number;
  seed: number;
  /** Fuzz connections open at once. */
  concurrency?: number;
  /** Longest the arbiter may take to answer anything (beyond a wait's own timeout). */
  livenessMs?: number;
  honest?: boolean;
  /** Runs only this connection number (what a violation's replay line names). */
  replay?: number;
  trace?: (line: string) => void;
  progress?: (line: string) => void;
}

export interface FuzzResult {
  summary: RunSummary;
  stats: FuzzStats;
}

/** The arbiter the fuzzer starts: quotas keep fuzz sessions from starving the honest workers of blocks. */
const ARBITER = { size: "64MiB", blockSize: "64KiB", slots: "4096", lease: "20s", clientQuota: "1MiB" };
const PROGRESS_MS = 5000;

export async function runFuzz(options: FuzzOptions): Promise<FuzzResult> {
  const paths = testPaths("fuzz");
  const { clientQuota, ...flags } = ARBITER;
  let arbiter: ArbiterProcess | undefined;
  try {
    arbiter = await ArbiterProcess.start(paths, { ...flags, extra: ["--client-quota", clientQuota] });
    return await fuzzArbiter(options, paths, arbiter);
  } finally {
    await arbiter?.stop();
    paths.cleanup();
  }
}

async function fuzzArbiter(
  options: FuzzOptions,
  paths: TestPaths,
  arbiter: ArbiterProcess,
): Promise<FuzzResult> {
  const stats = new FuzzStats(options.seed);
  const run = runContext(options, paths, stats);
  const live = arbiter.spawned.proc;
  const monitor = new Monitor(run, arbiter.pid, () => live.exitCode !== null);
  await monitor.start();
  run.stopping = () => stats.frames >= options.frames || !monitor.healthy;
  run.checkMemory = (connection, frame) => monitor.sampleMemory(connection, frame);
  const honest =
    options.honest === false ? undefined : new HonestRounds({ ...paths, seed: options.seed, stats });
  honest?.start();
  const started = performance.now();
  const progress = setInterval(() => reportProgress(options, stats, started), PROGRESS_MS);
  try {
    await fuzzConnections(run, options);
  } finally {
    clearInterval(progress);
  }
  const durationMs = performance.now() - started;
  await honest?.stop();
  await monitor.stop();
  await monitor.checkNothingLeft();
  monitor.close();
  await arbiter.stop();
  checkArbiterLog(await arbiter.spawned.stderr, live.exitCode, stats);
  const summary: RunSummary = {
    seed: options.seed,
    frames: stats.frames,
    connections: stats.connections,
    bytes: stats.bytes,
    violations: stats.violationCount,
    durationMs: Math.round(durationMs),
    framesPerSecond: Math.round(stats.frames / (durationMs / 1000)),
    honestRounds: honest?.passed ?? 0,
    arbiterMaxRssMiB: monitor.maxRssMiB,
  };
  return { summary, stats };
}

function runContext(options: FuzzOptions, paths: TestPaths, stats: FuzzStats): RunContext {
  return {
    seed: options.seed,
    socketPath: paths.socket,
    stats,
    livenessMs: options.livenessMs ?? 15_000,
    geometry: computeGeometry(
      parseSize(ARBITER.size, "size"),
      parseSize(ARBITER.blockSize, "block size"),
      Number(ARBITER.slots),
    ),
    leaseMs: parseDuration(ARBITER.lease, "lease"),
    tokens: new TokenBook(),
    stopping: () => false,
    checkMemory: () => {},
    trace: options.trace,
  };
}

/** Parallel lanes, each running one connection after another, numbered in the order they start. */
async function fuzzConnections(run: RunContext, options: FuzzOptions): Promise<void> {
  if (options.replay !== undefined) return connection(run, options.replay);
  let next = 0;
  const lane = async () => {
    while (!run.stopping()) await connection(run, next++);
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 6 }, lane));
}

async function connection(run: RunContext, index: number): Promise<void> {
  try {
    await runConnection(new FuzzSession(run, index));
  } catch (error) {
    run.stats.violate(index, 0, "connect", `the connection failed: ${String(error)}`);
  }
}

function reportProgress(options: FuzzOptions, stats: FuzzStats, started: number): void {
  const seconds = (performance.now() - started) / 1000;
  options.progress?.(
    `fuzz: ${stats.frames} frames (${Math.round(stats.frames / seconds)}/s), ${stats.connections} connections, ${stats.violationCount} violations so far`,
  );
}

/** The arbiter logs what it calls a bug; it must also have stopped on the SIGTERM, not died of something. */
function checkArbiterLog(stderr: string, exitCode: number | null, stats: FuzzStats): void {
  const bugs = stderr.split("\n").filter((line) => /✖|hit a bug|uncaught|panic/i.test(line));
  if (bugs.length > 0) stats.violate(WHOLE_RUN, 0, "arbiter-log", bugs.slice(0, 5).join("\n"));
  if (exitCode !== 0)
    stats.violate(WHOLE_RUN, 0, "crash", `the arbiter exited with ${exitCode}: ${stderr.slice(-1500)}`);
}

// ---- the command line ----

interface CliOptions extends FuzzOptions {
  json: string | undefined;
  help?: boolean;
}

const USAGE =
  "usage: bun test/fuzz/main.ts --frames N [--seed S] [--json FILE] [--concurrency K] [--liveness MS] [--no-honest] [--replay C [--trace]]";

function parseArgs(argv: string[]): CliOptions {
  const options: CliOptions = { frames: 100_000, seed: (Date.now() % 0xffffffff) >>> 0, json: undefined };
  const number = (flag: string, text: string | undefined): number => {
    const value = Number(text);
    if (text === undefined || !Number.isSafeInteger(value) || value < 0)
      throw new Error(`${flag} needs a whole number\n${USAGE}`);
    return value;
  };
  for (let index = 0; index < argv.length; index++) {
    const flag = argv[index]!;
    const value = () => argv[++index];
    if (flag === "--frames") options.frames = number(flag, value());
    else if (flag === "--seed") options.seed = number(flag, value()) >>> 0;
    else if (flag === "--json") options.json = value();
    else if (flag === "--concurrency") options.concurrency = Math.max(1, number(flag, value()));
    else if (flag === "--liveness") options.livenessMs = number(flag, value());
    else if (flag === "--replay") options.replay = number(flag, value());
    else if (flag === "--no-honest") options.honest = false;
    else if (flag === "--trace") options.trace = (line) => console.log(line);
    else if (flag === "--help" || flag === "-h") options.help = true;
    else throw new Error(`unknown flag '${flag}'\n${USAGE}`);
  }
  return options;
}

async function cli(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  console.log(
    `fuzz: seed ${options.seed}, ${options.frames} frames${options.replay === undefined ? "" : `, replaying connection ${options.replay}`}`,
  );
  const { summary, stats } = await runFuzz({ ...options, progress: (line) => console.error(line) });
  for (const violation of stats.violations) console.log(formatViolation(violation));
  if (stats.violationCount > stats.violations.length)
    console.log(`(${stats.violationCount - stats.violations.length} more violations not shown)`);
  console.log(
    `fuzz: ${summary.framesPerSecond} frames/s over ${(summary.durationMs / 1000).toFixed(1)} s, ${summary.bytes} bytes, ` +
      `${summary.honestRounds} honest rounds passed, arbiter peak RSS ${summary.arbiterMaxRssMiB} MiB`,
  );
  if (options.json) writeFileSync(options.json, `${jsonReport(stats, summary)}\n`);
  console.log(summaryLine(summary));
  return summary.violations > 0 ? 1 : 0;
}

if (import.meta.main)
  cli().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exit(2);
    },
  );
