/**
 * Starting an arbiter: the socket checked and a stale one cleared, the region and its state prepared
 * (./setup.ts), the state replayed, and the listener opened; a start that fails removes only what it
 * made, so it disturbs nothing.
 */
import { existsSync, realpathSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { failure } from "../errors.ts";
import { removalRefusal } from "../ffi/file-flags.ts";
import { log } from "../log.ts";
import { mailboxPath } from "../region/mailbox.ts";
import { removeFile } from "../remove-file.ts";
import { Arbiter } from "./arbiter.ts";
import type { ArbiterOptions } from "./arbiter-view.ts";
import { HANDOVER_SUFFIX, handoverPath, handoverTtlMs } from "./handover.ts";
import { checkSocketPath, clearStaleSocket } from "./listener.ts";
import type { StateRecord } from "./records.ts";
import { prepareRegion } from "./setup.ts";
import { RegionSlots } from "./slots.ts";
import { removeLeftoverPrivateNames } from "./socket-file.ts";
import { ArbiterState } from "./state.ts";
import { compactAfterRecords, StateFile } from "./state-file.ts";
import { stateFileExists } from "./state-read.ts";
import { clearUnrecordedEnds, unrecordedEnds } from "./unrecorded-ends.ts";

/**
 * Refuses a --region, --state and --socket of which two name one file, or name a file another implies (the
 * region's `.wake` futex mailbox, the socket's `.handover`), before anything is touched. The start took its
 * own socket for another arbiter's ("another arbiter (pid N) started on this --socket at the same time",
 * N its own pid), or served with its state journal and its futex mailbox one file, each written over by
 * the other.
 */
export function checkArbiterPaths(
  options: Pick<ArbiterOptions, "regionPath" | "statePath" | "socketPath">,
): void {
  const named: [string, string | undefined][] = [
    ["--region", options.regionPath],
    ["the region's futex mailbox", mailboxPath(options.regionPath)],
    ["--state", options.statePath],
    ["--socket", options.socketPath],
    ["the hand-over socket beside --socket", handoverPath(options.socketPath)],
  ];
  named.forEach(([what, path], index) => {
    const earlier = named.slice(0, index).find(([, otherPath]) => samePath(path, otherPath));
    if (path !== undefined && earlier)
      throw failure(
        "InvalidArgument",
        `use ${what} ${path}`,
        `it is also ${earlier[0]}, and each needs a file of its own: give them different paths`,
      );
  });
}

/** Two names of one file: the same path once made absolute and its symbolic links followed. */
function samePath(first: string | undefined, second: string | undefined): boolean {
  if (first === undefined || second === undefined) return false;
  return resolve(first) === resolve(second) || canonical(first) === canonical(second);
}

/**
 * `path` with its symbolic links followed, as far as it exists: a file not made yet (a first start) is
 * its directory's real path and its name, so a --state through a linked directory is still the --region.
 */
function canonical(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    const parent = dirname(path);
    return parent === path ? path : join(canonical(parent), basename(path));
  }
}

export async function startArbiter(options: ArbiterOptions): Promise<Arbiter> {
  checkArbiterPaths(options);
  // Settings the state journal or the hand-over socket would refuse, refused before anything is touched
  // (an existing region would have been re-headed or formatted, a new --state written and left behind).
  compactAfterRecords();
  handoverTtlMs();
  // Refuse a socket it could not listen on, or a live one, before touching the region: a start that
  // fails must disturb nothing.
  checkSocketPath(options.socketPath, HANDOVER_SUFFIX);
  await clearStaleSocket(options.socketPath);
  // Its hand-over socket beside it is a dead arbiter's too: left, a start that fails later would leave it.
  await clearStaleSocket(handoverPath(options.socketPath));
  // And the private names a start killed between its bind and its link left beside them.
  removeLeftoverPrivateNames(options.socketPath);
  // What this start will have made, decided before it makes anything; a state file this user cannot see
  // is an error here, before the region is touched, not a file to make.
  const freshState = !stateFileExists(options.statePath);
  const made = [
    ...(existsSync(options.regionPath) ? [] : [options.regionPath]),
    ...[mailboxPath(options.regionPath)].filter(
      (path): path is string => path !== undefined && !existsSync(path),
    ),
  ];
  const prepared = prepareRegion(options);
  const { region, geometry } = prepared;
  let arbiter: Arbiter | undefined;
  try {
    const slots = new RegionSlots(region.syncWords(geometry), geometry);
    const state = new ArbiterState(geometry, options, slots);
    replay(state, prepared, options.statePath);
    endUnrecorded(state, region.headerWords(), prepared.notes);
    state.commit({ t: "epoch", epoch: prepared.epoch });
    const stateFile = StateFile.create(options.statePath, state.snapshot(options.regionPath), freshState);
    // Its own only once written: one there before is another arbiter's that started at the same moment.
    if (freshState) made.push(options.statePath);
    state.attachJournal(stateFile);
    clearUnrecordedEnds(region.headerWords()); // recorded now (kept until then: a failed start keeps them)
    arbiter = new Arbiter(options, region, state, slots, stateFile, prepared.notes);
    // Restored sessions get one lease, counted from now, to come back.
    for (const clientId of state.sessions.keys())
      arbiter.liveness.set(clientId, {
        connection: undefined,
        lastSeenMs: performance.now(),
        stalledAtSeenMs: 0,
      });
    arbiter.listen();
    return arbiter;
  } catch (error) {
    // Only what this start made (an existing region or state holds allocations a later start needs), and
    // while the region's lock is still held: once it is let go, another arbiter may start on these paths.
    for (const path of made) removeMadeFile(path);
    if (arbiter) await arbiter.stop();
    else region.close();
    throw error;
  }
}

/** A file a failed start made; one that cannot be removed is said, and the start's own error still told. */
function removeMadeFile(path: string): void {
  try {
    removeFile(path);
  } catch (error) {
    log.warn(`could not remove ${path}, which this failed start created (${removalRefusal(error, path)})`);
  }
}

/**
 * Ends the sessions the last arbiter (of the epoch the journal recorded last) listed as ended but not
 * recorded: their locks were released, so their clients must not resume them (./unrecorded-ends.ts).
 */
function endUnrecorded(state: ArbiterState, header: Int32Array, notes: string[]): void {
  const ended = unrecordedEnds(header, state.epoch).filter((clientId) => state.sessions.has(clientId));
  for (const clientId of ended) state.endSession(clientId);
  if (ended.length > 0)
    notes.push(
      `ended the session of client ${ended.map((clientId) => `#${clientId}`).join(", ")}: it had ended before ` +
        "the last stop, which the state journal could not record then (its locks were released as owner-died)",
    );
}

/** A record the state cannot take (a block out of range, an unknown segment) is a damaged file: said so. */
function replay(
  state: ArbiterState,
  { records, lines }: { records: readonly StateRecord[]; lines: readonly number[] },
  statePath: string,
): void {
  records.forEach((record, index) => {
    try {
      state.apply(record);
    } catch (error) {
      const why = error instanceof Error ? error.message.replace(/^Failed to /, "") : String(error);
      throw failure(
        "StateInvalid",
        `resume from ${statePath}`,
        `its record on line ${lines[index] ?? index + 1} cannot be replayed (${why}): the file is damaged; restore it, or remove it to start empty (its allocations are lost)`,
      );
    }
  });
}
