/**
 * A full accept queue, as the VM's bridges log it. Each try of a guest waiting for a stopped or overloaded
 * arbiter is a bridge process of its own (about one a second per waiting guest), and each logged an
 * ERROR: an expected, retried condition flooded the host's log. Now the bridges of one arbiter socket
 * share a small marker file, per user, in the temporary directory: the first refusal of an episode logs
 * one WARN, later ones only add to the marker's count, and the first bridge that gets through again logs
 * how many were refused, and for how long. Without a marker directory of our own (another user's, or
 * none can be made) each refusal is logged as a WARN, as before but for its level. An arbiter not running
 * (restarting: a guest's session retries as for a full queue) is an episode of its own, its first refusal
 * an ERROR (it may never come). A marker nobody ended (its arbiter gone for good, a test's socket) stayed
 * for ever, one more per such socket: a bridge starting an episode removes those untouched for a day.
 */
import { createHash } from "node:crypto";
import {
  appendFileSync,
  closeSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { log } from "../log.ts";
import { formatWait } from "../units.ts";

/** Why bridges were refused: the arbiter's accept queue was full, or none ran on its socket. */
export type Refusal = "queue full" | "no arbiter";

const REFUSED_SINCE: Record<Refusal, string> = {
  "queue full": "its queue of connections waiting to be accepted was full",
  "no arbiter": "no arbiter ran there",
};

/** A refusal this long after the episode's last starts a new episode (its first is logged again). */
export const EPISODE_GAP_MS = 60_000;

/**
 * A marker untouched this long is removed when a bridge starts an episode. Its episode ended long ago
 * (EPISODE_GAP_MS); all it still gives is the count a bridge reaching its arbiter again logs, and an
 * arbiter back after more than a day had its absence logged when it began (the episode's first refusal).
 */
export const MARKER_KEPT_MS = 24 * 3600_000;

/**
 * Markers looked at per episode start, from a random one on: no bridge stats a directory's every file
 * however many it holds (its names are read whole all the same), one filled before markers were removed
 * (hundreds were seen) empties over an episode or a few, and young markers first in the directory's order
 * cannot keep old ones after them from ever being looked at.
 */
export const PRUNE_SCAN_LIMIT = 1000;

/** A marker's name: the first 32 hex digits of a SHA-256 (see markerPath); nothing else is removed. */
const MARKER_NAME = /^[0-9a-f]{32}$/;

/**
 * Where the marker of `socketPath` is, or undefined when no directory of this user's can hold it; `make`:
 * the directory is made if missing (a bridge that got through only looks).
 */
function markerPath(socketPath: string, make: boolean, refusal: Refusal): string | undefined {
  const uid = process.getuid?.() ?? -1;
  const dir = join(tmpdir(), `ivsh-bridge-${uid}`);
  try {
    if (make) mkdirSync(dir, { mode: 0o700 });
  } catch {
    // There already (checked below), or not to be made: then none.
  }
  try {
    const status = lstatSync(dir);
    // Another user's, or one others may write: they could silence this user's log.
    if (!status.isDirectory() || status.uid !== uid || (status.mode & 0o022) !== 0) return undefined;
  } catch {
    return undefined;
  }
  const episode = refusal === "queue full" ? socketPath : `${socketPath}\0${refusal}`;
  return join(dir, createHash("sha256").update(episode).digest("hex").slice(0, 32));
}

/** Logs a bridge's refusal (`error` says it) once per episode; counts the rest. */
export function noteRefused(socketPath: string, error: Error, refusal: Refusal): void {
  const marker = markerPath(socketPath, true, refusal);
  const counted = marker !== undefined && countRefusal(marker);
  const rest = marker
    ? "; further refusals are counted, not logged, until a guest's connection gets through"
    : "";
  if (counted) log.debug(error.message);
  else if (refusal === "no arbiter") log.error(`${error.message}${rest}`);
  else log.warn(`${error.message}; the guest is told, and tries again until its connect timeout${rest}`);
}

/** True when an episode is under way and this refusal was added to it; else starts one (returns false). */
function countRefusal(marker: string): boolean {
  try {
    if (Date.now() - statSync(marker).mtimeMs < EPISODE_GAP_MS) {
      appendFileSync(marker, "x");
      return true;
    }
    unlinkSync(marker); // an old episode's, whose guests gave up: a new one starts
  } catch {
    // No episode under way.
  }
  try {
    const fd = openSync(marker, "wx", 0o600);
    try {
      writeSync(fd, `${Date.now()}\n`);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Another bridge started it at the same moment, or no marker can be written: logged all the same.
    return false;
  }
  removeOldMarkers(dirname(marker));
  return false;
}

/** Removes the markers in `dir` untouched for MARKER_KEPT_MS, PRUNE_SCAN_LIMIT of them at most. */
function removeOldMarkers(dir: string): void {
  const oldest = Date.now() - MARKER_KEPT_MS;
  let markers: string[];
  try {
    markers = readdirSync(dir).filter((name) => MARKER_NAME.test(name));
  } catch {
    return; // not to be read: the markers stay, as before
  }
  const first = Math.floor(Math.random() * markers.length);
  for (let seen = 0; seen < Math.min(PRUNE_SCAN_LIMIT, markers.length); seen++) {
    const path = join(dir, markers[(first + seen) % markers.length]!);
    try {
      const status = lstatSync(path);
      if (status.isFile() && status.mtimeMs < oldest) unlinkSync(path);
    } catch {
      // Gone meanwhile (another bridge's removal or episode's end).
    }
  }
}

/** A bridge reached the arbiter: if bridges were refused before, logs how many, and ends the episode. */
export function noteReached(socketPath: string): void {
  endEpisode(socketPath, "queue full");
  endEpisode(socketPath, "no arbiter");
}

function endEpisode(socketPath: string, refusal: Refusal): void {
  const marker = markerPath(socketPath, false, refusal);
  if (!marker) return;
  let text: string;
  let last: number; // the episode's last refusal (its guests may have given up long ago)
  try {
    last = statSync(marker).mtimeMs;
    text = readFileSync(marker, "latin1");
    unlinkSync(marker); // only the bridge that removed it logs
  } catch {
    return;
  }
  const [start = "", counts = ""] = text.split("\n");
  const since = Number(start);
  const lasted = since > 0 ? ` over ${formatWait(Math.max(0, last - since))}` : "";
  const ago = Date.now() - last;
  log.info(
    `the arbiter at ${socketPath} accepts connections again: ${counts.length + 1} guest connection(s) ` +
      `were refused${lasted}${ago >= EPISODE_GAP_MS ? `, the last ${formatWait(ago)} ago,` : ""} since ` +
      REFUSED_SINCE[refusal],
  );
}
