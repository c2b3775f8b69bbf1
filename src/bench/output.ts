/** A run's results as the markdown tables (stdout) and the JSON (--json); figures.ts draws the SVGs. */

import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { mkdir } from "node:fs/promises";
import { availableParallelism, cpus, release, totalmem } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { failure } from "../errors.ts";
import { errnoOf } from "../ffi/errno.ts";
import { nativeStatus } from "../ffi/native.ts";
import { removeFile } from "../remove-file.ts";
import { descriptorNamed } from "../transfer/io.ts";
import { formatBlockSize, formatBytes } from "../units.ts";
import { VERSION } from "../version.ts";
import { onCleanup } from "./child.ts";
import { digestSection } from "./digest-bench.ts";
import { evaluateGoals, renderGoals } from "./goals.ts";
import { type BenchResult, renderResults, type Section } from "./report.ts";
import { accessSection, endToEndSection, limitSection, sweepSection, transferSection } from "./results.ts";
import type { SuiteData } from "./suite-data.ts";
import { condvarSection, lockSection } from "./sync-results.ts";
import { temporaryIn } from "./temporaries.ts";

/** 2: the digest section, "ivsh-setup" transfers, machine.digest; ivsh transfers timed from the receiver attaching. */
const JSON_SCHEMA = "ivsh-bench/2";

export type BenchReport = ReturnType<typeof buildReport>;

export function buildReport(
  data: SuiteData,
  run: { command: string; startedAt: Date; seconds: number; charts: string[] },
) {
  const { plan, failures, ...raw } = data;
  const sections = reportSections(data);
  return {
    schema: JSON_SCHEMA,
    command: run.command,
    startedAt: run.startedAt.toISOString(),
    seconds: run.seconds,
    machine: describeMachine(),
    plan,
    sections,
    goals: evaluateGoals(
      plan,
      sections.flatMap((section) => section.results),
    ),
    notes: data.notes,
    // Parts that failed without ending the run (--vm's VMs), by their messages: it tells a run whose VMs
    // failed from one without --vm (raw held the errors themselves, which JSON writes as {code, name}).
    failures: failures.map((error) => (error instanceof Error ? error.message : String(error))),
    // SVG files written, relative to --out.
    charts: run.charts,
    // Every sample, per round, for recomputing anything above.
    raw,
  };
}

export function reportSections(data: SuiteData): Section[] {
  return [
    limitSection(data),
    digestSection(data.digest),
    sweepSection(data),
    transferSection(data),
    endToEndSection(data),
    lockSection(data),
    condvarSection(data),
    accessSection(data.access),
  ];
}

function planLine(report: BenchReport): string {
  const { plan } = report;
  const sizes = `${formatBlockSize(plan.blockSizes[0] ?? 0)} … ${formatBlockSize(plan.blockSizes.at(-1) ?? 0)}`;
  return (
    `${formatBytes(plan.bytes)} per transfer, ${plan.repeats} rounds with every method once per round in ` +
    `rotating order; block sizes ${sizes}; ${plan.lockPairs} lock pairs per method and round; ` +
    `${plan.handoffRounds} parked hand-offs; ${formatBytes(plan.accessBytes)} per access mapping` +
    `${plan.quick ? " (--quick: smaller than the report's sizes)" : ""}`
  );
}

export function renderMarkdown(report: BenchReport): string {
  const all: BenchResult[] = report.sections.flatMap((section) => section.results);
  const { machine } = report;
  const guest = machine.hypervisor ? `, a ${machine.hypervisor} guest` : "";
  const parts = [
    "# ivsh bench",
    "",
    `Command: \`${report.command}\` (started ${report.startedAt}, took ${report.seconds.toFixed(0)} s)`,
    "",
    `- CPU: ${machine.cpu}, ${machine.cores} CPUs (nproc ${machine.nproc})${guest}`,
    `- Caches: ${machine.caches}`,
    `- Memory: ${(machine.memoryBytes / 2 ** 30).toFixed(0)} GiB; kernel: ${machine.kernel}`,
    `- ivsh ${machine.ivsh}; Bun ${machine.bun}; channel digest: ${machine.digest}`,
    "",
    planLine(report),
    "",
    "Medians over rounds (latencies: over all hand-offs); spread is the IQR with ≥ 5 samples, else min–max. " +
      '"vs reference" is the fraction of memcpy computed within each round, then its median, for rows ' +
      "measured in the same rounds as memcpy; for the others (Fig. 4b, the VM rows), median ÷ median.",
  ];
  for (const section of report.sections)
    parts.push("", `## ${section.title}`, "", section.about, "", renderResults(section.results, all));
  parts.push("", "## Goals", "", renderGoals(report.goals));
  if (report.notes.length > 0) parts.push("", "## Notes", "", ...report.notes.map((note) => `- ${note}`));
  return `${parts.join("\n")}\n`;
}

export async function writeJson(path: string, report: unknown): Promise<void> {
  await writeWhole(path, `${JSON.stringify(report, null, 2)}\n`);
}

/** FIFOs named as outputs, opened for writing before the run (`holdFifo`), by the name they were given. */
const heldFifos = new Map<string, number>();

/**
 * Opens the FIFO `path` for writing before the run (after it, one with no reader blocked the end for ever;
 * opened and closed to check, it ended its reader). Throws ENXIO when nothing has it open for reading.
 */
export function holdFifo(path: string): void {
  if (heldFifos.has(path)) return;
  heldFifos.set(path, openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
}

/** Writes `text` into the FIFO held for `path`, then closes it: its reader sees the end of the document. */
async function writeHeldFifo(fd: number, path: string, text: string): Promise<void> {
  heldFifos.delete(path);
  try {
    await Bun.write(Bun.file(fd), text);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes `text` to `path` whole or not at all (a full file system left a truncated SVG in place of the last
 * good one): through a temporary file renamed into place; a file mounted in place is written into.
 */
export async function writeWhole(path: string, text: string): Promise<void> {
  const held = heldFifos.get(path);
  if (held !== undefined)
    return writeHeldFifo(held, path, text).catch((error) => {
      throw writeFailure(path, error);
    });
  const target = landingOf(path);
  await mkdir(dirname(target.path), { recursive: true });
  const temporary = temporaryIn(dirname(target.path));
  const remove = () => removeFile(temporary);
  const forget = onCleanup(remove);
  // Our own descriptor, written as is: a socket has no name to open (ENXIO), and a file opened by name was
  // truncated (`>> bench.log` lost the whole log).
  const fd = descriptorNamed(path);
  try {
    const into = fd === undefined ? undefined : fstatSync(fd);
    if (fd !== undefined && (into?.isSocket() || into?.isFile())) await Bun.write(Bun.file(fd), text);
    else if (target.direct) await Bun.write(target.path, text);
    else {
      await Bun.write(temporary, text);
      try {
        renameSync(temporary, target.path);
      } catch (error) {
        // A file mounted in place (docker -v FILE:…) is no name to rename over (EBUSY): written into instead.
        if (errnoOf(error) !== "EBUSY") throw error;
        remove();
        await writeInPlace(target.path, text);
      }
    }
  } catch (error) {
    try {
      remove();
    } catch {
      // Its directory turned read-only (EROFS) or unwritable: the write's own failure is the one to say.
    }
    throw writeFailure(path, error);
  } finally {
    forget();
  }
}

/** Writes over `path` in place; a write failing part way puts the previous contents back (they fitted). */
async function writeInPlace(path: string, text: string): Promise<void> {
  const previous = readPrevious(path);
  try {
    await Bun.write(path, text);
  } catch (failed) {
    try {
      if (previous) writeFileSync(path, previous);
    } catch {
      // Not put back either: the write's own failure is the one to say.
    }
    throw failed;
  }
}

/** What a file written into holds before (undefined if this user may not read it: written all the same). */
function readPrevious(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

/** A failed write as "Failed to write PATH since REASON (ERRNO)", with advice for a full file system. */
export function writeFailure(path: string, error: unknown): Error {
  const errno = errnoOf(error) || "an error";
  const reason = /^E[A-Z0-9]+: ([^,]+)/.exec((error as Error).message)?.[1] ?? (error as Error).message;
  const full = errno === "ENOSPC";
  return failure(
    full ? "NoSpace" : "SystemCall",
    `write ${path}`,
    `${reason} (${errno})${full ? ": free space there" : ""}`,
  );
}

/**
 * The file `writeWhole` replaces, or writes into directly: a symbolic link is written through, as the
 * shell's `>` does; a FIFO, a device or a link into /proc (`--json /dev/stdout`) directly, not renamed over.
 */
function landingOf(path: string): { path: string; direct: boolean } {
  if (ownDescriptor(path)) return { path, direct: true };
  try {
    const named = realpathSync(path);
    return { path: named, direct: !statSync(named).isFile() };
  } catch {
    // Nothing there yet (a new file), or a link to nothing or to what has no path ("pipe:[…]"): a link is
    // written through, as before; anything else gets its own error from the write.
    return { path, direct: lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() === true };
  }
}

/**
 * Whether `path` names one of this process's descriptors (/dev/stdout, /dev/fd/N, /proc/self/fd/N, a link
 * to one); /proc/1/fd/1, another process's, is not.
 */
export function ownDescriptor(path: string): boolean {
  if (descriptorNamed(path) !== undefined) return true;
  const absolute = resolve(path);
  try {
    return descriptorNamed(join(realpathSync(dirname(absolute)), basename(absolute))) !== undefined;
  } catch {
    return false;
  }
}

/* What the numbers were measured on: lscpu when present, node:os otherwise. */
function lscpu(): Map<string, string> {
  const fields = new Map<string, string>();
  try {
    const result = Bun.spawnSync(["lscpu"], {
      stdout: "pipe",
      stderr: "ignore",
      env: { ...process.env, LC_ALL: "C" },
    });
    for (const line of result.stdout.toString().split("\n")) {
      const colon = line.indexOf(":");
      if (colon > 0) fields.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
  } catch {
    // No lscpu: the fallbacks below still describe the machine.
  }
  return fields;
}

function kernelVersion(): string {
  try {
    return readFileSync("/proc/version", "utf8").split(" ").slice(0, 3).join(" ");
  } catch {
    return `Linux ${release()}`;
  }
}

function describeMachine() {
  const fields = lscpu();
  const caches = ["L1d", "L1i", "L2", "L3"]
    .filter((level) => fields.get(`${level} cache`))
    .map((level) => `${level} ${fields.get(`${level} cache`)}`)
    .join(", ");
  const hypervisor = fields.get("Hypervisor vendor");
  return {
    cpu: fields.get("Model name") ?? cpus()[0]?.model ?? "unknown",
    cores: Number(fields.get("CPU(s)") ?? cpus().length),
    nproc: availableParallelism(),
    caches: caches || "unknown",
    kernel: kernelVersion(),
    memoryBytes: totalmem(),
    // Which build ran: results of two builds told apart ("0.1.0 (6b2c4b13e0aa 2026-12-07)"; from source, the release).
    ivsh: VERSION,
    bun: Bun.version,
    // The channel digest's implementation in this run's ivsh processes (src/ffi/native.ts).
    digest: nativeStatus().detail,
    ...(hypervisor ? { hypervisor } : {}),
  };
}
