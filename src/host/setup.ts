/**
 * Arbiter start-up: map the region and bring back the persisted state, or format both afresh.
 *
 * - state file present and describing this region: resume. Every allocation, name and grant comes back;
 *   the header keeps its data and gets a new epoch.
 * - no state file: format the region (new header, zeroed slots) and start empty.
 * - state file present but the region file was just created (a host reboot emptied /dev/shm): the memory
 *   it describes is gone, so start empty and say so.
 * - state file describing another geometry: refuse; silently dropping allocations would lose work.
 */
import { existsSync, realpathSync, statSync } from "node:fs";
import { basename, isAbsolute, resolve } from "node:path";
import { failure } from "../errors.ts";
import { resolvedPath } from "../guest/socket-name.ts";
import { invalidateHeader, readEpoch, startGreeting, writeHeader } from "../region/header.ts";
import { computeGeometry, type Geometry, PAGE_SIZE, SLOT_BYTES, sameGeometry } from "../region/layout.ts";
import { mailboxBytes, mailboxPath } from "../region/mailbox.ts";
import type { MappedRegion } from "../region/mapping.ts";
import { createOrOpenRegionFile } from "../region/mapping.ts";
import {
  checkRoomBeside,
  diskRegionWarning,
  type FileBeside,
  isTmpfsPath,
  refuseForeignContents,
} from "../region/region-file.ts";
import { formatBytes, formatSizeFlag } from "../units.ts";
import { checkAllocatorFits } from "./allocator.ts";
import { arbiterIdentity } from "./identity.ts";
import { refuseHeldJournal } from "./journal-claim.ts";
import { checkRegionOwner, checkStateOwner } from "./ownership.ts";
import { STATE_FORMAT, type StateRecord } from "./records.ts";
import { loadStateFile } from "./state-read.ts";

export interface RegionOptions {
  regionPath: string;
  regionSize: number;
  blockSize: number;
  slotCount: number;
  statePath: string;
}

export interface PreparedRegion {
  region: MappedRegion;
  geometry: Geometry;
  epoch: number;
  /** Records to replay (empty when formatted afresh). */
  records: StateRecord[];
  /** The state file's line of each record. */
  lines: number[];
  notes: string[];
  /** This start created the region file (it did not exist). */
  created: boolean;
}

export function prepareRegion(options: RegionOptions): PreparedRegion {
  const geometry = computeGeometry(options.regionSize, options.blockSize, options.slotCount);
  checkNamesBeside(options);
  checkStateOwner(options.statePath);
  const loaded = loadStateFile(options.statePath);
  const begin = loaded?.records[0];
  // A state this region's flags match is resumed: it served before. Not when its region file is gone or
  // empty (createOrOpenRegionFile's `created`): the region is made afresh, its allocations dropped anyway.
  const regionFile = statSync(options.regionPath, { throwIfNoEntry: false });
  const resumes =
    begin?.t === "begin" && sameGeometry(begin.geometry, geometry) && (regionFile?.size ?? 0) > 0;
  checkAllocatorFits(geometry, undefined, resumes ? options.statePath : undefined);
  // Before what the state says is compared: a running arbiter's journal names its region, and "remove the
  // state file" (a mismatch's advice) would have the operator delete that live journal.
  refuseHeldJournal(options.statePath, options.regionPath, begin?.t === "begin" ? begin.region : undefined);
  // Before the region file is made: a state another region's arbiter keeps must not be rewritten.
  if (begin?.t === "begin") {
    checkStateRegion(begin.region, options);
    checkRecordedSize(begin.geometry.regionSize, options);
  }
  const notes = checkRegionOwner(options.regionPath);
  checkRoomBeside(
    options.regionPath,
    options.regionSize,
    filesBeside(options, geometry),
    roomAdvice(resumes, options.statePath),
  );
  const { region, created } = createOrOpenRegionFile(options.regionPath, options.regionSize);
  const onDisk = diskRegionWarning(options.regionPath);
  if (onDisk) notes.push(onDisk);
  try {
    if (loaded?.tornTail) notes.push(`ignored a half-written last record in ${options.statePath}`);
    if (begin?.t === "begin" && !created) {
      checkStateMatches(begin, geometry, options);
      const epoch = nextEpoch(Math.max(begin.epoch, readEpoch(region.headerWords())));
      // The state is authoritative: rewriting the whole header (not just the epoch) also heals one a guest
      // scribbled on or a crash left half written. Slots and blocks are kept.
      writeHeader(region.syncWords(geometry), { ...geometry, epoch, ...arbiterIdentity });
      startGreeting(region.headerWords(), epoch);
      return {
        region,
        geometry,
        epoch,
        records: loaded?.records ?? [],
        lines: loaded?.lines ?? [],
        notes,
        created,
      };
    }
    const previous = previousEpoch(region, created);
    if (begin)
      notes.push(
        `${options.regionPath} was just created, so the allocations in ${options.statePath} are gone`,
      );
    else if (previous > 0)
      notes.push(
        `${options.regionPath} held an arbiter's region but ${options.statePath} records none: its allocations are discarded`,
      );
    // Not the arbiter's region by its state: formatting it must not destroy someone's file.
    if (!created)
      refuseForeignContents(options.regionPath, region.base, region.size, isTmpfsPath(options.regionPath));
    const epoch = nextEpoch(previous);
    format(region, geometry, epoch);
    return { region, geometry, epoch, records: [], lines: [], notes, created };
  } catch (error) {
    region.close();
    throw error;
  }
}

/** The journal's least on its file system: a page at its first record. */
const JOURNAL_LEAST_BYTES = PAGE_SIZE;

/**
 * What the arbiter's files beside a region of `slotCount` slots take at least on its file system, when
 * there (`filesBeside`): for a caller that sizes the room of a region it has the arbiter make (the demo, the
 * benchmark), which the start refuses if the region's holes and these do not fit.
 */
export function roomBeside(slotCount: number): number {
  return JOURNAL_LEAST_BYTES + mailboxBytes(slotCount);
}

/**
 * The files the arbiter keeps beside its region, which take pages of the region's file system when on it: the
 * journal (a page at its first record, more with every change until compacted) and the wake-up file.
 */
function filesBeside(options: RegionOptions, geometry: Geometry): FileBeside[] {
  const wake = mailboxPath(options.regionPath);
  const journal = { path: options.statePath, what: "its state journal", least: JOURNAL_LEAST_BYTES };
  if (!wake) return [journal];
  return [journal, { path: wake, what: "its wake-up file", least: mailboxBytes(geometry.slotCount) }];
}

/** The most bytes a file name has on Linux's file systems (NAME_MAX). */
const NAME_MAX_BYTES = 255;

/**
 * Names the arbiter makes beside its region and state may not fit where theirs did: refused before anything
 * is made, with the longest name that fits (a region's was "Failed to stat REGION.wake since name too
 * long", a state's failed at its first write). A compaction's copy takes the pid, up to 7 digits (pid_max).
 */
function checkNamesBeside(options: RegionOptions): void {
  const wake = mailboxPath(options.regionPath);
  const what = "the wake-up file the arbiter makes beside it";
  // Named after the file the region resolves to: a link's own name says nothing of it.
  const named = resolvedOrGiven(options.regionPath);
  if (wake) refuseNoRoomBeside("--region", options.regionPath, named, basename(wake), basename(wake), what);
  const state = basename(options.statePath);
  const copy = "the copy the arbiter writes beside it as it compacts";
  const [path, longest] = [options.statePath, `${state}.compact-4194304`];
  refuseNoRoomBeside("--state", path, resolve(path), `${state}.compact-PID`, longest, copy);
}

function resolvedOrGiven(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path); // not there yet: made at the name given
  }
}

function refuseNoRoomBeside(
  flag: string,
  path: string,
  named: string,
  shown: string,
  longest: string,
  what: string,
): void {
  const theirs = Buffer.byteLength(longest);
  if (theirs <= NAME_MAX_BYTES) return;
  const own = Buffer.byteLength(basename(named));
  const given = named === resolve(path);
  throw failure(
    "InvalidArgument",
    `use ${flag} ${path}`,
    `${given ? "its file name is" : `the file it resolves to, ${named}, has a name of`} ${own} bytes, and ` +
      `${what} (${shown}) would be ${shown === longest ? "" : "up to "}${theirs}: a file name has at most ` +
      `${NAME_MAX_BYTES} bytes; choose ${given ? `a ${flag} name` : "a name for it"} of at most ` +
      `${own - (theirs - NAME_MAX_BYTES)} bytes`,
  );
}

/**
 * What to do about a region whose file system cannot hold the arbiter's files beside it too. Moving the
 * state elsewhere is told only when it is there: a --state on another file system already was not.
 */
function roomAdvice(resumes: boolean, statePath: string): (there: FileBeside[]) => string {
  return (there) => {
    const movable = there.some((file) => file.path === statePath);
    if (resumes)
      return movable
        ? "free space there, or move the state file to another file system (a disk's, where it also outlives a reboot) and pass --state with its new path"
        : "free space there";
    return movable
      ? "pass a smaller --size, or a --state on another file system (a disk's, where it also outlives a reboot)"
      : "pass a smaller --size or free space there";
  };
}

function checkStateMatches(
  begin: Extract<StateRecord, { t: "begin" }>,
  geometry: Geometry,
  options: RegionOptions,
) {
  if (begin.format !== STATE_FORMAT)
    throw failure(
      "StateInvalid",
      `resume from ${options.statePath}`,
      `its format is ${begin.format}, not ${STATE_FORMAT}`,
    );
  if (!sameGeometry(begin.geometry, geometry))
    throw failure(
      "StateInvalid",
      `resume from ${options.statePath}`,
      `it describes a region of ${asFlags(begin.geometry)}, but the flags ask for ${asFlags(geometry)} ` +
        "(pass the same flags, or leave them out to use the state's, or remove the state file to discard its allocations)",
    );
}

/**
 * A region file of another size than its state records was truncated or replaced: what it held is gone.
 * ("pass --size" would be the wrong advice here: the state's allocations do not fit another size.)
 */
function checkRecordedSize(recorded: number, options: RegionOptions): void {
  const found = statSync(options.regionPath, { throwIfNoEntry: false });
  // Not a file (a directory, a device): the region's own checks say what is wrong with it. An empty file
  // is one the operator made for its owner and mode (after a reboot wiped /dev/shm): formatted as new.
  if (!found?.isFile() || found.size === recorded || found.size === 0) return;
  const size = found.size;
  throw failure(
    "RegionInvalid",
    `resume ${options.regionPath} from ${options.statePath}`,
    `the file is ${formatBytes(size)} but the state records a ${formatBytes(recorded)} region: it was truncated or replaced and its contents are lost; remove it and start the arbiter again`,
  );
}

/**
 * A state names the region it belongs to. Another path is refused while that region exists (its arbiter
 * may be running, or come back), and whenever this start would create the region: the state would be
 * rewritten for an empty region and its allocations lost. Only a region file moved to a new path resumes.
 */
function checkStateRegion(stateRegion: string, options: RegionOptions): void {
  if (resolve(stateRegion) === resolve(options.regionPath) || sameFile(stateRegion, options.regionPath))
    return;
  // Written before paths were recorded absolute, it is relative to a directory we cannot know.
  const [where, pass] = isAbsolute(stateRegion)
    ? [",", `--region ${stateRegion}`]
    : [", relative to the directory its arbiter ran in,", "--region with that file's absolute path"];
  if (existsSync(stateRegion) || !existsSync(options.regionPath))
    throw failure(
      "StateInvalid",
      `resume from ${options.statePath}`,
      `it belongs to the region ${stateRegion}${where} not ${options.regionPath} (pass ${pass}, ` +
        "or another --state for this region, or remove the state file to discard its allocations)",
    );
}

/**
 * Two names of one file: `r` typed in its directory and `/dir/r` elsewhere, or a symlink; the same notion
 * of "one region" as the wake mailbox's (a hard link is another name: its clients find no mailbox). A file
 * gone under both names (a reboot emptied /dev/shm, the state kept on disk) is still one through a
 * symlinked directory (resolvedPath): only an existing file was resolved, and its state was refused.
 */
function sameFile(first: string, second: string): boolean {
  const real = (path: string) => {
    try {
      return realpathSync(path);
    } catch {
      return undefined;
    }
  };
  const resolved = real(first);
  if (resolved !== undefined) return resolved === real(second);
  return real(second) === undefined && resolvedPath(first) === resolvedPath(second);
}

/** Epochs are u32 on the wire and in the header: they wrap, skipping 0 (never a started arbiter's). */
function nextEpoch(epoch: number): number {
  return (epoch + 1) >>> 0 || 1;
}

/** The epoch the region last had, so a re-format still moves forwards. */
function previousEpoch(region: MappedRegion, created: boolean): number {
  if (created) return 0;
  try {
    return region.readHeader().epoch;
  } catch {
    return 0;
  }
}

/** A fresh header over zeroed slots; the version word is written last inside writeHeader. */
function format(region: MappedRegion, geometry: Geometry, epoch: number): void {
  const words = region.syncWords(geometry);
  invalidateHeader(words);
  words.fill(0, geometry.slotOffset >> 2, (geometry.slotOffset + geometry.slotCount * SLOT_BYTES) >> 2);
  writeHeader(words, { ...geometry, epoch, ...arbiterIdentity });
  startGreeting(words, epoch);
}

/** A geometry as the flags that make it: what an operator compares and types. */
function asFlags(geometry: Geometry): string {
  const { regionSize, blockSize, slotCount } = geometry;
  return `--size ${formatSizeFlag(regionSize)} --block-size ${formatSizeFlag(blockSize)} --slots ${slotCount}`;
}
