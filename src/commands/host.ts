/** `ivsh host`: the arbiter daemon. */

import { existsSync, statSync } from "node:fs";
import type { ParsedArgs } from "citty";
import {
  DEFAULT_BLOCK_SIZE,
  DEFAULT_LEASE,
  DEFAULT_REGION_SIZE,
  DEFAULT_SLOTS,
  defaultStatePath,
} from "../defaults.ts";
import { failure, isIvshError, reasonOf } from "../errors.ts";
import { absolutePath, absoluteSocketPath } from "../guest/socket-name.ts";
import type { ArbiterOptions } from "../host/arbiter.ts";
import { openFileLimitWarning } from "../host/connection-limit.ts";
import { HANDOVER_SUFFIX, handoverTtlMs } from "../host/handover.ts";
import { followParent } from "../host/parent.ts";
import { checkArbiterPaths, startArbiter } from "../host/start.ts";
import { compactAfterRecords } from "../host/state-file.ts";
import { recordedGeometry } from "../host/state-read.ts";
import { notifyServiceManager, notifyServing } from "../host/systemd.ts";
import { isLogLevel, LOG_LEVELS, type LogLevel, log } from "../log.ts";
import {
  computeGeometry,
  type Geometry,
  isBlockSize,
  MAX_SLOT_COUNT,
  PAGE_SIZE,
  powerOfTwoAtLeast,
  tailBytes,
} from "../region/layout.ts";
import {
  decimalSizeNote,
  formatBytes,
  formatDuration,
  formatSizeFlag,
  parseCount,
  parseSize,
  plural,
} from "../units.ts";
import { checkFlag, durationWithin, refuseEmpty, regionPath, socketPath } from "./_args.ts";
import { onStopSignals, receivedStopSignal } from "./_exit.ts";
import { hostArgs, LEAST_HELLO_WAIT, LEAST_LEASE } from "./_host-args.ts";
import { defineLeafCommand } from "./_strict.ts";
import { meantOne } from "./_suggest.ts";

/** --log-level, -q or -v (at most one of them); undefined leaves IVSH_LOG_LEVEL's choice. */
function logLevelOf(args: {
  "log-level"?: string;
  quiet?: boolean;
  verbose?: boolean;
}): LogLevel | undefined {
  const given = [args["log-level"], args.quiet ? "-q" : undefined, args.verbose ? "-v" : undefined];
  if (given.filter(Boolean).length > 1)
    throw failure(
      "InvalidArgument",
      "choose a log level",
      "--log-level, -q and -v each set it: pass one of them",
    );
  if (args.quiet) return "warn";
  if (args.verbose) return "debug";
  const level = args["log-level"];
  if (level === undefined) return undefined;
  if (!isLogLevel(level))
    throw failure(
      "InvalidArgument",
      `use --log-level ${level}`,
      `it is not one of ${LOG_LEVELS.join(", ")}${meantOne(level, LOG_LEVELS)}`,
    );
  return level;
}

export default defineLeafCommand({
  meta: {
    name: "host",
    description:
      "Run the arbiter: allocates blocks of the region, keeps names, permissions, locks and client liveness",
  },
  args: hostArgs,
  // A failure is told to the service manager (STATUS=) where it is reported: ../cli.ts.
  run: ({ args, rawArgs }) => serve(args, rawArgs),
});

async function serve(args: ParsedArgs<typeof hostArgs>, rawArgs: string[]): Promise<void> {
  const level = checkFlag(() => logLevelOf(args));
  if (level) log.level = level;
  const given = givenFlags(rawArgs);
  const options = checkFlag(() => arbiterOptions(args, given));
  // Its settings in the environment, refused as a flag's value is (IVSH_CONNECT's too): exit 2.
  checkFlag(() => {
    compactAfterRecords();
    handoverTtlMs();
  });
  const size = options.regionSize;
  if (!Number.isInteger(Math.log2(size)))
    log.warn(notForVms(options.regionPath, size, given.has("size") ? args.size : undefined));
  const unused = tailWarning(computeGeometry(size, options.blockSize, options.slotCount));
  if (unused) log.warn(unused);
  // Listen for the stop signals first: one that arrives during start-up still stops us cleanly.
  const stopSignal = new Promise<string>((resolve) => onStopSignals(resolve, { once: true }));
  // One that came before the command ran (held since the first line): nothing to start, nothing to leave.
  const early = receivedStopSignal();
  if (early) {
    log.info(`stopped on ${early} before it started: nothing was created`);
    return;
  }
  const goneParent = args["exit-with-parent"] ? checkFlag(followParent) : undefined;
  if (goneParent !== undefined) {
    log.info(`stopped as its parent (pid ${goneParent}) exited before it started: nothing was created`);
    return;
  }
  // Before anything is made: an arbiter with no descriptor for a client would serve none.
  const noRoom = openFileLimitWarning();
  if (noRoom) log.warn(noRoom);
  const arbiter = await startArbiter(options);
  for (const note of arbiter.notes) log.warn(note);
  const { geometry } = arbiter.state;
  // Absolute, as the region's is: a user copies it into another shell or directory. It is bound as
  // given when its absolute path does not fit sun_path's 108 bytes (arbiterOptions).
  const socketShown = absolutePath(options.socketPath);
  log.success(
    `arbiter serving ${options.regionPath} (${formatBytes(geometry.regionSize)}, ${plural(geometry.blockCount, "block")} of ` +
      `${formatBytes(geometry.blockSize)}, ${plural(geometry.slotCount, "slot")}) on ${socketShown} with a ${formatDuration(options.leaseMs)} lease, ` +
      `epoch ${arbiter.epoch}, ` +
      `${plural(arbiter.state.sessions.size, "session")} restored`,
  );
  notifyServing({
    READY: 1,
    MAINPID: process.pid,
    STATUS: `serving ${options.regionPath} on ${socketShown}, epoch ${arbiter.epoch}`,
  });
  const signal = await Promise.race([stopSignal, arbiter.failed]);
  if (signal instanceof Error) {
    notifyServiceManager({ STOPPING: 1, STATUS: signal.message });
    await arbiter.stop();
    throw signal;
  }
  notifyServiceManager({ STOPPING: 1, STATUS: `stopping on ${signal}` });
  // Ends the full journal refused, recorded if it takes them now: else the next start resumes them.
  arbiter.lateEnds.stopping(options.statePath);
  // Written once more if it was removed: only a journal at its path keeps anything for the next start.
  const kept = arbiter.keepJournal();
  // Looked at while the region is still mapped: only then is the file served known.
  const served = arbiter.region.stillAt(options.regionPath);
  await arbiter.stop();
  // A region removed under it is made anew by the next start, which discards what the journal holds.
  if (kept && !served && !existsSync(options.regionPath))
    log.warn(
      `stopped on ${signal}; no region file is at ${options.regionPath} any more (removed or moved away while the ` +
        `arbiter ran), so the next start makes a new one and discards the allocations in ${options.statePath}: if it ` +
        "was moved, put it back first",
    );
  // One replaced by a file of its size is resumed on, over contents that are not the allocations' (of
  // another size, refused): either way what they held is not at the path the next start opens.
  else if (kept && !served)
    log.warn(
      `stopped on ${signal}; the file at ${options.regionPath} is not the region file this arbiter served (replaced ` +
        `while it ran), so the allocations in ${options.statePath} describe contents it does not hold: put the file ` +
        `served back at ${options.regionPath} before the next start if it was moved, else remove ${options.statePath} ` +
        "(its allocations are lost)",
    );
  else if (kept)
    log.info(
      `stopped on ${signal}; allocations and sessions stay in ${options.statePath} for the next start`,
    );
  else if (arbiter.journalTakenOver)
    log.error(
      `stopped on ${signal}; another arbiter took the state journal's path ${options.statePath} while this one ` +
        "ran, so this one's allocations are kept nowhere (its clients must allocate again)",
    );
  else
    log.error(
      `stopped on ${signal}; the state journal ${options.statePath} is gone and could not be written again, ` +
        "so the next start finds no state and discards every allocation (its clients must allocate again)",
    );
}

/**
 * A region size QEMU refuses, with what gives VMs one: another --size, or, once the file exists (the size
 * its own or a restart's), its removal first, which another --size alone would meet as "the file is already".
 */
function notForVms(region: string, size: number, typed: string | undefined): string {
  const what =
    typed === undefined
      ? `the region's size, ${formatSizeFlag(size)},`
      : `--size ${sizeAsGiven(size, typed)}`;
  const fits = `--size ${formatSizeFlag(powerOfTwoAtLeast(size))}`;
  const forVms =
    existingSize(region) === undefined
      ? `for VMs pass e.g. ${fits}`
      : `for VMs, remove ${region} if nothing uses it, then start with ${fits}`;
  return (
    `${what} is not a power of two: QEMU's ivshmem device refuses such a region, so only host processes can ` +
    `use it (${forVms})${withNote(decimalSizeNote(typed))}`
  );
}

/** The flags the command line names (`--size 1GiB`, `--size=1GiB`), as opposed to defaults citty filled in. */
function givenFlags(rawArgs: readonly string[]): Set<string> {
  return new Set(
    rawArgs.filter((token) => token.startsWith("--")).map((token) => token.slice(2).split("=")[0]!),
  );
}

/** Whether some block size and slot count lay out a region of `bytes` (the smallest block fits a small
 * region, the largest one too many blocks for the smallest). */
function someRegionIs(bytes: number): boolean {
  return [PAGE_SIZE, 2 ** 31].some((blockSize) => {
    try {
      computeGeometry(bytes, blockSize, 1);
      return true;
    } catch {
      return false;
    }
  });
}

/** The region file's size if it exists and has one; a file that cannot be looked at is start-up's to report. */
function existingSize(region: string): number | undefined {
  try {
    // A directory's size is no region's: the open says what it is.
    const found = statSync(region, { throwIfNoEntry: false });
    return found?.isFile() ? found.size || undefined : undefined;
  } catch {
    return undefined;
  }
}

function arbiterOptions(args: ParsedArgs<typeof hostArgs>, given: Set<string>): ArbiterOptions {
  // Absolute: recorded in the state, and told to clients (status, hello), whose next start or working
  // directory may be another. As the kernel reads them: resolve()'s ".." is lexical (absolutePath).
  const region = absolutePath(regionPath(args), "dropped");
  refuseEmpty("--state", args.state, "the state FILE");
  const statePath = absolutePath(args.state ?? defaultStatePath(region), "dropped");
  checkArbiterPaths({ regionPath: region, statePath, socketPath: socketPath(args) });
  // A restart need not repeat its geometry: what the state file records is the default, else the
  // region file's own size.
  const recorded = recordedGeometry(statePath);
  const geometryFlag = (name: "size" | "block-size" | "slots", kept: number | undefined, fallback: string) =>
    given.has(name) || kept === undefined ? (args[name] ?? fallback) : String(kept);
  const blockText = geometryFlag("block-size", recorded?.blockSize, DEFAULT_BLOCK_SIZE);
  const blockSize = parseSize(blockText, "--block-size");
  if (!isBlockSize(blockSize))
    throw failure(
      "InvalidArgument",
      `use --block-size ${blockText}`,
      `it is not a multiple of 4 KiB up to 2 GiB (e.g. ${DEFAULT_BLOCK_SIZE}, the default)${withNote(decimalSizeNote(blockText))}`,
    );
  const quotaBlocks = (flag: "client-quota" | "vm-quota") =>
    Math.ceil(parseSize(args[flag], `--${flag}`) / blockSize);
  const fileSize =
    recorded?.regionSize === undefined && !given.has("size") ? existingSize(region) : undefined;
  const regionSize = parseSize(
    geometryFlag("size", recorded?.regionSize ?? fileSize, DEFAULT_REGION_SIZE),
    "--size",
  );
  const slotText = geometryFlag("slots", recorded?.slotCount, String(DEFAULT_SLOTS));
  const slotCount = parseCount(slotText, "--slots");
  if (slotCount > MAX_SLOT_COUNT)
    throw failure(
      "InvalidArgument",
      `use --slots ${slotText}`,
      `it is more than ${MAX_SLOT_COUNT}, the most a region has (the default is ${DEFAULT_SLOTS})`,
    );
  // The layout's own checks, so a size or block size it refuses is a usage error before any file opens.
  try {
    computeGeometry(regionSize, blockSize, slotCount);
  } catch (error) {
    const note = given.has("size") ? decimalSizeNote(args.size) : "";
    if (note && isIvshError(error, "InvalidArgument"))
      throw failure("InvalidArgument", `use --size ${args.size}`, `${note}: ${reasonOf(error)}`);
    // The size was the file's own and no region's: "pass --size N" would only meet "the file is already ...".
    // A size some region has is kept, and the error names the --block-size or --slots it cannot take.
    if (fileSize === undefined || !isIvshError(error, "InvalidArgument") || someRegionIs(fileSize))
      throw error;
    throw failure(
      "InvalidArgument",
      `serve --region ${region}`,
      `${region} is an existing ${fileSize}-byte file, and no ivsh region is that size: name the region's file, or remove this one if nothing uses it`,
    );
  }
  return {
    regionPath: region,
    regionSize,
    blockSize,
    slotCount,
    statePath,
    // Absolute too where it fits sun_path: what the arbiter says about its socket (a refusal, the
    // hand-over socket's warnings) is copied into other shells.
    socketPath: absoluteSocketPath(socketPath(args), HANDOVER_SUFFIX),
    leaseMs: durationWithin(args.lease ?? DEFAULT_LEASE, "--lease", {
      ...LEAST_LEASE,
      why: "clients heartbeat every sixth of the lease: a shorter one expires clients that are merely slow on a loaded machine",
    }),
    helloWaitMs: durationWithin(args["hello-wait"], "--hello-wait", {
      ...LEAST_HELLO_WAIT,
      why: "a client says hello as it connects, but a loaded machine or a VM's network may delay it",
    }),
    clientQuotaBlocks: quotaBlocks("client-quota"),
    vmQuotaBlocks: quotaBlocks("vm-quota"),
    vmSlots: parseCount(args["vm-slots"], "--vm-slots", { allowZero: true }),
    vmConnections: parseCount(args["vm-connections"], "--vm-connections", { allowZero: true }),
  };
}

/** A region whose tail (the bytes after its last whole block, which nothing uses) is more than this share of it is warned about. */
const TAIL_WARNED = 1 / 16;

/**
 * The memory a block size near the region's size loses to the tail, said with a block size that loses
 * little; "" when the tail is a small share (a tail is always under a block: the defaults leave 60 KiB of
 * 256 MiB). A warning, not a refusal: no size makes the tail nothing (the header comes first), and a
 * size that is a multiple of the block size still loses most of a block to it.
 */
function tailWarning(geometry: Geometry): string {
  const { regionSize, blockSize, blockCount, slotCount, dataOffset } = geometry;
  const tail = tailBytes(geometry);
  if (tail <= regionSize * TAIL_WARNED) return "";
  const better = smallerBlocks(geometry);
  return (
    `--block-size ${formatSizeFlag(blockSize)} leaves ${formatBytes(tail)} of the ${formatBytes(regionSize)} region ` +
    `(${Math.round((100 * tail) / regionSize)}%) unused: after the header and ${plural(slotCount, "slot")} ` +
    `(${formatBytes(dataOffset)}) it has room for ${plural(blockCount, "whole block")}, and no block covers the rest ` +
    `(--block-size ${formatSizeFlag(better.blockSize)} leaves ${formatBytes(tailBytes(better))} unused, with ` +
    `${plural(better.blockCount, "block")})`
  );
}

/** The largest block size, halving the region's, whose tail is no longer warned about (4 KiB leaves none). */
function smallerBlocks(geometry: Geometry): Geometry {
  const half = (bytes: number) => Math.max(PAGE_SIZE, Math.floor(bytes / 2 / PAGE_SIZE) * PAGE_SIZE);
  let candidate = geometry;
  do candidate = computeGeometry(geometry.regionSize, half(candidate.blockSize), geometry.slotCount);
  while (candidate.blockSize > PAGE_SIZE && tailBytes(candidate) > geometry.regionSize * TAIL_WARNED);
  return candidate;
}

/**
 * A region size as the user gave it (else as --size takes it), with what it comes to unless that reads
 * already: "256MB (244.1 MiB)", "250000KiB (244.1 MiB)", "20MiB".
 */
function sizeAsGiven(size: number, typed: string | undefined): string {
  const text = typed?.trim() ?? formatSizeFlag(size);
  const readable = /^\d+(?:\.\d+)?\s*[KMGT]iB$/i.test(text) && Number.parseFloat(text) < 1024;
  return readable ? text : `${text} (${formatBytes(size)})`;
}

function withNote(note: string): string {
  return note ? `; ${note}` : "";
}
