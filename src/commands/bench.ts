/**
 * `ivsh bench`: the report's measurements (Fig. 3a, 3b, 4a, 4b) against ivsh, with memcpy as the limit and
 * the goals of issue 5. Tables on stdout, progress on stderr, JSON and SVG figures on request.
 */
import { statfsSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import type { ArgDef } from "citty";
import { checkShmRoom, DEFAULT_REGION_BYTES, ROOM_BESIDE_REGION } from "../bench/arbiter.ts";
import { benchDirectory, cleanupNow, killAllChildren } from "../bench/child.ts";
import { FIGURE_FILES, writeFigures } from "../bench/figures.ts";
import { buildReport, renderMarkdown, writeJson } from "../bench/output.ts";
import { type BenchPlan, benchPlan, regionBytesFor, regionUseFor } from "../bench/plan.ts";
import { runScale, scalePlan } from "../bench/scale.ts";
import { measureGuestConnections } from "../bench/scale-guests.ts";
import { renderGuestConnections, renderScaleMarkdown, scaleVerdicts } from "../bench/scale-report.ts";
import { runSuite } from "../bench/suite.ts";
import { checkVmPrerequisites } from "../bench/vm-launch.ts";
import { failure, throwIfAborted } from "../errors.ts";
import { log, refuseClosedStdout, writeStandard } from "../log.ts";
import { letSignalsLand } from "../transfer/signals.ts";
import { formatBytes, parseCount } from "../units.ts";
import { checkFlag } from "./_args.ts";
import { checkDestinations, holdJsonFifo } from "./_bench-destinations.ts";
import { eachOutput } from "./_bench-outputs.ts";
import { checkScaleRoom } from "./_bench-room.ts";
import { onStopSignals } from "./_exit.ts";
import { stopAtOnce } from "./_stop-at-once.ts";
import { defineLeafCommand, UsageError } from "./_strict.ts";

const benchArgs = {
  quick: {
    type: "boolean",
    description: "Smaller sizes and fewer rounds (ends within a minute; the CI smoke test)",
  },
  json: {
    type: "string",
    description: "Also write every result and sample as JSON to FILE",
    valueHint: "FILE",
  },
  out: {
    type: "string",
    description: "Write the figures as SVG files into DIR (the default benchmark; --scale has none)",
    valueHint: "DIR",
  },
  vm: {
    type: "boolean",
    description:
      "Also measure through QEMU VMs (scripts/qemu/launch.sh, from a checkout of ivsh's source repository): guest→host, host→guest, resource2 vs _wc; with --scale, the host memory each guest connection costs",
  },
  scale: {
    type: "boolean",
    description:
      "Instead: load one arbiter with many clients and allocations (RPC latency, memory, journal, restart)",
  },
  clients: {
    type: "string",
    description: "--scale: clients connected at once (default 1000)",
    valueHint: "N",
  },
  allocations: {
    type: "string",
    description: "--scale: live one-block allocations across them (default 100000)",
    valueHint: "N",
  },
  seconds: {
    type: "string",
    description: "--scale: how long the request mix runs (default 20)",
    valueHint: "S",
  },
  rate: {
    type: "string",
    description: "--scale: requests per second, all clients together (default 4000)",
    valueHint: "N",
  },
  "disk-dir": {
    type: "string",
    // No `default`: a --disk-dir given to --scale, which keeps no file on disk, must be told from none.
    description:
      "Where the 'mmapped file on disk' lives (on tmpfs it measures RAM, and the results say so) (default /var/tmp)",
    valueHint: "DIR",
  },
} as const satisfies Record<string, ArgDef>;

export default defineLeafCommand({
  meta: {
    name: "bench",
    description: "Measure ivsh against sockets, a file on disk and memcpy (the report's figures)",
  },
  args: benchArgs,
  async run({ args }) {
    // Its tables are written at the end of minutes of measuring: a stdout closed at start fails it now.
    refuseClosedStdout();
    // First: an --out= or --disk-dir= given to --scale was told to name a DIR, which --scale then refused.
    checkCombination(args);
    // An empty value would read as "none wanted", and the run's results or figures would be lost.
    if (args.json === "") throw new UsageError("--json needs the FILE to write to: --json=FILE");
    if (args.out === "") throw new UsageError("--out needs the DIR to write the figures into: --out=DIR");
    if (args["disk-dir"] === "")
      throw new UsageError(
        "--disk-dir needs the DIR for the file on disk: --disk-dir=DIR (default /var/tmp)",
      );
    if (args.scale) {
      checkDestinations(args);
      return scaleBench(args);
    }
    const diskDir = typeof args["disk-dir"] === "string" ? args["disk-dir"] : DEFAULT_DISK_DIR;
    checkDestinations({ ...args, "disk-dir": diskDir });
    const plan = benchPlan({ quick: args.quick === true, vm: args.vm === true });
    // A --disk-dir on /dev/shm's own file system takes its room too (checkDiskRoom alone counted it apart).
    const onShm = sharesShm(diskDir);
    const needs = (of: BenchPlan) => shmBytes(of) + (onShm ? diskBytes(of) : 0);
    const quickBytes = needs(benchPlan({ quick: true, vm: plan.vm }));
    checkShmRoom(
      "run the benchmark",
      needs(plan),
      [...(plan.quick ? [] : [{ bytes: quickBytes, advice: "run with --quick" }])],
      onShm
        ? "its regions, end-to-end files and Fig. 4b's file (--disk-dir is in /dev/shm) need"
        : "its region and end-to-end files need",
    );
    checkDiskRoom(diskDir, plan);
    const command = `ivsh ${process.argv.slice(2).join(" ")}`;
    const startedAt = new Date();
    await whileInterruptible("run the benchmarks", async (signal) => {
      if (plan.vm) checkVmPrerequisites();
      const scratchDir = benchDirectory(tmpdir(), "run").path;
      const diskPath = benchDirectory(diskDir, "disk").path;
      // The last check, after the run's directories (a TMPDIR not there): see there.
      holdJsonFifo(typeof args.json === "string" ? args.json : undefined);
      const data = await runSuite({
        plan,
        diskDir: diskPath,
        scratchDir,
        signal,
        progress: (message) => log.info(message),
      });
      const charts = args.out ? [...FIGURE_FILES] : [];
      const seconds = (Date.now() - startedAt.getTime()) / 1000;
      const report = buildReport(data, { command, startedAt, seconds, charts });
      // Tables first, then the JSON and the figures, each written whatever became of the others: a
      // destination that fails (a full disk) loses what it was to hold, not the run's other results. A full
      // stdout or --json had failed the run before the outputs after it were written.
      const outputs = eachOutput();
      // A part that failed (--vm's VMs) fails the run once the rest is written, not before.
      for (const failed of data.failures)
        await outputs.attempt(() => {
          throw failed;
        });
      await outputs.attempt(() => writeStandard(1, renderMarkdown(report)));
      if (args.json) await outputs.attempt(() => writeJson(args.json as string, report));
      if (args.out)
        await outputs.attempt(async () => {
          const names = await writeFigures(args.out as string, data);
          log.info(`figures in ${args.out}: ${names.join(", ")}`);
        });
      outputs.settle();
    });
  },
});

/** Where the "mmapped file on disk" lives unless --disk-dir says otherwise: a disk, not tmpfs, on most systems. */
const DEFAULT_DISK_DIR = "/var/tmp";

const SCALE_ONLY = ["clients", "allocations", "seconds", "rate"] as const;

/** A flag the chosen benchmark does not read was ignored, and the user believed it had been applied. */
function checkCombination(args: BenchArgs): void {
  const stray = SCALE_ONLY.find((name) => args[name] !== undefined);
  if (!args.scale && stray)
    throw new UsageError(`--${stray} shapes the --scale benchmark only: add --scale, or leave it out`);
  if (args.scale && args["disk-dir"] !== undefined)
    throw new UsageError(
      "--disk-dir places the default benchmark's file on disk, and --scale keeps none: leave it out",
    );
  if (args.scale && args.out !== undefined)
    throw new UsageError(
      "--scale draws no figures, so --out has nothing to write: leave it out (--json keeps its results)",
    );
}

/**
 * Runs `work` with Ctrl-C ending the children; whatever it leaves is removed however it ends. A child
 * killed by Ctrl-C surfaces as its own failure: the error then says what really happened. Ctrl-C reaches
 * the whole process group, so a child can die of it, and fail the run, before this process's own signal
 * has reached its listener: that signal is let through first.
 */
async function whileInterruptible(action: string, work: (signal: AbortSignal) => Promise<void>) {
  const { signal, dispose } = interruptOnSignals();
  try {
    await work(signal);
  } catch (error) {
    await letSignalsLand(signal);
    throwIfAborted(signal, action);
    throw error;
  } finally {
    dispose();
    cleanupNow();
  }
}

type BenchArgs = { [K in keyof typeof benchArgs]?: string | boolean | undefined };

async function scaleBench(args: BenchArgs): Promise<void> {
  const count = (name: "clients" | "allocations" | "seconds" | "rate") =>
    typeof args[name] === "string"
      ? checkFlag(() => parseCount(args[name] as string, `--${name}`))
      : undefined;
  const given = {
    clients: count("clients"),
    allocations: count("allocations"),
    seconds: count("seconds"),
    rate: count("rate"),
  };
  // Flags that cannot go together (fewer --allocations than --clients) are a usage error, as a bad value is.
  const plan = checkFlag(() => scalePlan({ quick: args.quick === true, ...given }));
  checkScaleRoom(plan, given, { quick: args.quick === true, vm: args.vm === true });
  const command = `ivsh ${process.argv.slice(2).join(" ")}`;
  await whileInterruptible("run the scale benchmark", async (signal) => {
    const tools = args.vm ? checkVmPrerequisites() : undefined;
    holdJsonFifo(typeof args.json === "string" ? args.json : undefined); // the last check: see there
    const progress = (message: string) => log.info(message);
    const result = await runScale(plan, signal, progress);
    // A full stdout lost the --json too: each output is written whatever became of the others.
    const outputs = eachOutput();
    await outputs.attempt(() => writeStandard(1, renderScaleMarkdown(result, command)));
    const guestsStarted = performance.now();
    // One that fails (a VM that does not boot) loses its own table, not the --json of the scale run.
    let guests: Awaited<ReturnType<typeof measureGuestConnections>> | undefined;
    if (tools)
      await outputs.attempt(async () => (guests = await measureGuestConnections(tools, { progress })));
    const guestSeconds = (performance.now() - guestsStarted) / 1000;
    const measured = guests;
    if (measured)
      await outputs.attempt(() => writeStandard(1, renderGuestConnections(measured, guestSeconds)));
    if (typeof args.json === "string")
      await outputs.attempt(() => writeJson(args.json as string, { ...result, guests }));
    const failed = scaleVerdicts(result).filter((verdict) => !verdict.passed);
    if (failed.length > 0)
      log.warn(`scale goals missed: ${failed.map((verdict) => verdict.name).join("; ")}`);
    outputs.settle();
  });
}

const HARD_EXIT_AFTER_MS = 5000;

/**
 * Ctrl-C ends every child at once; their pending reads then fail and the run unwinds through its
 * `finally` blocks, which stop the arbiters and remove their files. A second signal, or an unwinding
 * that does not finish (a synchronous measurement holding the event loop), removes what is left and exits.
 */
function interruptOnSignals(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  // Its children too: the first signal's SIGTERM left one that had not ended on it running on.
  const hardExit = () => stopAtOnce("the benchmark", controller.signal.reason);
  const uninstall = onStopSignals((name) => {
    if (controller.signal.aborted) hardExit();
    controller.abort(`it was interrupted by ${name}`);
    killAllChildren();
    setTimeout(hardExit, HARD_EXIT_AFTER_MS).unref();
  });
  return { signal: controller.signal, dispose: uninstall };
}

/**
 * The "file on disk" rows keep a region (64 MiB, its arbiter's default) in --disk-dir, and Fig. 4b maps a
 * file of the plan's access size beside it, sparse until touched. A --disk-dir without room for the region
 * was refused by its arbiter advising --size, which bench does not take; one without room for the file
 * ran the whole benchmark and then died of SIGBUS touching the file's pages, leaving its files behind.
 */
function checkDiskRoom(dir: string, plan: BenchPlan): void {
  const { bavail, bsize } = statfsSync(dir);
  const free = bavail * bsize;
  if (diskBytes(plan) <= free) return;
  const quick = diskBytes(benchPlan({ quick: true, vm: plan.vm }));
  const advice = !plan.quick && quick <= free ? `, or run with --quick (it needs ${formatBytes(quick)})` : "";
  throw failure(
    "NoSpace",
    `use --disk-dir ${dir}`,
    `its region and Fig. 4b's file need ${formatBytes(diskBytes(plan))} there, which has only ` +
      `${formatBytes(free)} free: free space there, or pass another --disk-dir${advice}`,
  );
}

/** What --disk-dir holds: a region (its arbiter's default size) and Fig. 4b's file beside it. */
function diskBytes(plan: BenchPlan): number {
  return DEFAULT_REGION_BYTES + plan.accessBytes;
}

/** Whether `dir` is on /dev/shm's file system, whose room the benchmark's other files share. */
function sharesShm(dir: string): boolean {
  try {
    return statSync(dir).dev === statSync("/dev/shm").dev;
  } catch {
    return false;
  }
}

/**
 * What the benchmark keeps in /dev/shm at once: the whole region as its arbiter starts (it refuses one the
 * file system could not fill), then the part of that sparse file the run writes, beside the end-to-end
 * rows' source file and the new file they receive (the run's size each; counting the region alone, a
 * --quick run on 300 MiB passed the check and failed with ENOSPC after its warm-up), or with --vm, once
 * those are removed, the VMs' region. Counted whole, the region refused a --quick that fits in 650 MiB.
 */
function shmBytes(plan: BenchPlan): number {
  const files = Math.max(2 * plan.bytes, plan.vm ? DEFAULT_REGION_BYTES : 0);
  // The arbiter's journal and wake-up file beside the region take room there too (its start counts them).
  return Math.max(regionBytesFor(plan), regionUseFor(plan) + files) + ROOM_BESIDE_REGION;
}
