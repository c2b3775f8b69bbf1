/**
 * Transfer progress on stderr. On a terminal: one line redrawn at most every 100 ms (cleared with an
 * escape code, or with spaces where TERM=dumb says the terminal takes none), fitted to its width, with the total, percent and ETA when the size is known. Off a terminal: nothing, unless asked
 * for (--progress), then a plain line a second, no escape codes. A report that came too soon to draw is
 * drawn once its time comes, should no other follow (a stream that stalls). Rates count the bytes moved since the
 * first progress report (or the last wait for the other end), not from the process's start: connecting
 * and waiting are not transfer time, and the first report's bytes (a whole chunk, already moved) are no
 * rate at all. Until half a second of that has passed the line shows no rate or ETA.
 */

import { forCommands, IvshError } from "../errors.ts";
import { isTerminal } from "../ffi/index.ts";
import { nativeStatus } from "../ffi/native.ts";
import { log, writeStandard } from "../log.ts";
import { formatDigest } from "../transfer/digest.ts";
import type { Progress, TransferResult } from "../transfer/run.ts";
import { formatBytes, formatDuration, formatRate, plural } from "../units.ts";
import type { ArbiterAway, ArbiterAwayShown } from "./_arbiter-watch.ts";
import { MissingValue, UsageError } from "./_strict.ts";

const REDRAW_MS = 100;
const PLAIN_EVERY_MS = 1000;
const BAR_MAX = 30;
const BAR_MIN = 10;
const RATE_AFTER_MS = 500;
/** The shortest a label is cut to on a narrow terminal ("…" and the end of the path). */
const MIN_LABEL = 16;

export type ProgressMode = "terminal" | "plain" | "off";

/** What --progress and --quiet ask for, given whether stderr is a terminal. */
export function progressMode(flags: { progress?: boolean; quiet?: boolean }): ProgressMode {
  // One turns progress off, the other on: --quiet won without a word.
  if (flags.quiet && flags.progress)
    throw new UsageError(
      "Failed to use --quiet and --progress together since one turns progress off and the other on: pass one of them",
    );
  const terminal = isTerminal(2);
  if (flags.quiet) return "off";
  if (terminal) return "terminal";
  return flags.progress ? "plain" : "off";
}

/** A connect that has not got through yet: `what` it waits for, said on the progress line or once as a line. */
export interface ConnectWaitShown {
  connectWait(what: string): void;
}

/** `quiet` (-q): not even the line a wait for room (or a connect) says where no progress shows. */
export function terminalProgress(
  label: string,
  mode: ProgressMode,
  quiet = false,
): Progress & ArbiterAwayShown & ConnectWaitShown & { done(): void } {
  let since: { at: number; bytes: number } | undefined;
  /** What the end waits for, while it waits; and the arbiter's absence, which is shown instead. */
  let waitingFor: string | undefined;
  let waitingForPeer = false;
  let arbiterAway: ArbiterAway | undefined;
  const awayLine = () => arbiterAway && (waitingForPeer ? arbiterAway.waitingForPeer : arbiterAway.line);
  let lastDraw = Number.NEGATIVE_INFINITY;
  let drawn = false;
  /** The line drawn last: a terminal that takes no escape codes (TERM=dumb) has it blanked with spaces. */
  let drawnLength = 0;
  const dumb = process.env.TERM === "dumb";
  const clear = () => (dumb ? `\r${" ".repeat(drawnLength)}\r` : "\r\x1b[2K");
  /** `rest` follows "label:"; on a terminal the label gives way first, so the figures stay in view. */
  const show = (rest: string) => {
    if (mode === "terminal") {
      const line = fit(label, rest);
      writeStandard(2, `${clear()}${line}`);
      drawnLength = line.length;
      drawn = true;
    } else writeStandard(2, `${label}:${rest}\n`);
  };
  /** The latest report not drawn yet, and the one timer that draws it when its time comes. */
  const pending: { bytes: number; total: number | undefined } = { bytes: 0, total: undefined };
  let catchUp: ReturnType<typeof setTimeout> | undefined;
  const cancelCatchUp = () => {
    clearTimeout(catchUp);
    catchUp = undefined;
  };
  const draw = (bytes: number, total: number | undefined) => {
    cancelCatchUp();
    const now = performance.now();
    lastDraw = now;
    const elapsedMs = now - (since?.at ?? now);
    const rate =
      elapsedMs >= RATE_AFTER_MS ? ((bytes - (since?.bytes ?? bytes)) * 1000) / elapsedMs : undefined;
    show(progressLine(bytes, total, rate, mode === "terminal" ? barWidth(label) : 0));
  };
  const waiting = (what: string, forPeer = false) => {
    cancelCatchUp();
    since = undefined; // time spent waiting is not transfer time
    waitingFor = what;
    waitingForPeer = forPeer;
    if (mode !== "off") show(` waiting ${awayLine() ?? what}...`);
  };
  return {
    waiting,
    arbiterAway(away) {
      arbiterAway = away;
      if (waitingFor !== undefined && mode !== "off") show(` waiting ${awayLine() ?? waitingFor}...`);
    },
    update(bytes, total) {
      waitingFor = undefined;
      const now = performance.now();
      since ??= { at: now, bytes };
      if (mode === "off") return;
      const every = mode === "terminal" ? REDRAW_MS : PLAIN_EVERY_MS;
      if (now - lastDraw >= every) return draw(bytes, total);
      // A stream that stalls after this report (a slow pipe) would leave the line at an older count. One
      // timer for them all: a report comes per chunk, and a timer made and cleared for each cost more
      // than the rest of the report.
      pending.bytes = bytes;
      pending.total = total;
      if (catchUp) return;
      catchUp = setTimeout(() => draw(pending.bytes, pending.total), lastDraw + every - now);
      catchUp.unref();
    },
    connectWait(what) {
      waiting(what);
      // Off a terminal without --progress, said once too: a wrong --connect whose SYNs vanish waits silent else.
      if (mode === "off" && !quiet) log.info(`${label}: waiting ${what}`);
    },
    roomWait(what, limitMs) {
      waiting(what);
      // Off a terminal without --progress the wait was silent for its whole limit (30 s), then failed: said
      // once, as it begins (what it waits for, how long at most, where to see the holders), not per round.
      if (mode !== "off" || quiet) return;
      const bound =
        limitMs !== undefined && Number.isFinite(limitMs) ? ` up to ${formatDuration(limitMs)}` : "";
      log.info(`${label}: waiting${bound} ${what} (\`ivsh status\` lists their holders)`);
    },
    notice(line) {
      if (mode === "off") return; // the summary line says it then
      if (drawn) writeStandard(2, clear());
      drawn = false;
      writeStandard(2, `${label}: ${line}\n`);
    },
    done() {
      cancelCatchUp();
      if (drawn) writeStandard(2, clear());
      drawn = false;
    },
  };
}

function progressLine(bytes: number, total: number | undefined, rate: number | undefined, width: number) {
  const amount = `${formatBytes(bytes)}${total ? ` / ${formatBytes(total)}` : ""}`;
  const percent = total ? ` ${Math.floor((Math.min(bytes, total) / total) * 100)}%` : "";
  const drawnBar = total && width > 0 ? ` ${bar(bytes, total, width)}` : "";
  const speed = rate === undefined ? "" : ` ${formatRate(rate)}${eta(bytes, total, rate)}`;
  return `${drawnBar}${percent} ${amount}${speed}`;
}

/**
 * The terminal's width; 80 where it reports none: a serial console (a VM's ttyS0) or a pty nobody sized
 * says 0 columns, and every line was cut to a lone "…".
 */
function terminalColumns(): number {
  return process.stderr.columns || 80;
}

/** The bar's width for a terminal of this width: what the rest of the line leaves, within limits. */
function barWidth(label: string): number {
  const columns = terminalColumns();
  const rest = Math.min(label.length, MIN_LABEL) + 60; // percent, amounts, rate and ETA at their widest
  const room = columns - rest;
  return room < BAR_MIN ? 0 : Math.min(BAR_MAX, room);
}

/**
 * "label:rest" within the terminal's width (a line that wraps is not redrawn in place, it scrolls): the
 * label's path loses its start first ("send …/the/file"), down to MIN_LABEL characters; then the line is cut.
 */
function fit(label: string, rest: string): string {
  const columns = terminalColumns();
  const room = Math.max(MIN_LABEL, columns - 1 - rest.length - 1);
  // "send /a/long/path" keeps its verb: "send …ong/path".
  const verb = label.slice(0, label.indexOf(" ") + 1);
  const shown =
    label.length <= room ? label : `${verb}…${label.slice(label.length - (room - verb.length - 1))}`;
  const line = `${shown}:${rest}`;
  return line.length < columns ? line : `${line.slice(0, Math.max(0, columns - 2))}…`;
}

function bar(bytes: number, total: number, width: number): string {
  const filled = Math.round((Math.min(bytes, total) / total) * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
}

function eta(bytes: number, total: number | undefined, rate: number): string {
  if (!total || rate <= 0) return "";
  const seconds = Math.round(Math.max(0, (total - bytes) / rate));
  return ` ETA ${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

/** Seconds to the millisecond; under one, milliseconds to the microsecond ("in 0.000 s, 3.63 GB/s" said nothing). */
function elapsed(seconds: number): string {
  return seconds < 0.0005 ? `${(seconds * 1000).toFixed(3)} ms` : `${seconds.toFixed(3)} s`;
}

export function summaryLine(verb: string, result: TransferResult): string {
  return (
    `${verb} ${formatBytes(result.bytes)} (${plural(result.bytes, "byte")}) in ${elapsed(result.seconds)}, ` +
    `${formatRate(result.bytes / Math.max(result.seconds, 1e-9))}, ${plural(result.records, "chunk")} of up to ` +
    `${formatBytes(result.chunkBytes)}${shrunk(result)}, digest ${formatDigest(result.digest)} verified`
  );
}

/** A sender's ring smaller than asked, as the summary says it (also where no progress showed). */
function shrunk({ ringShrunk }: TransferResult): string {
  return ringShrunk ? ` (not ${formatBytes(ringShrunk.from)}: ${ringShrunk.room} had no room for more)` : "";
}

/**
 * --json's summary. `warnings`: what stderr warned of after the transfer (a name left for the user to
 * delete), then what its release left held: a script that reads only stdout was told none of it, and a
 * FILE.partial left blocked its next `recv --out FILE`. Said as stderr says them (`forCommands`).
 */
export function summaryJson(
  role: "send" | "recv",
  channel: string,
  file: string,
  result: TransferResult,
  warnings: string[] = [],
) {
  const said = result.leftHeld === undefined ? warnings : [...warnings, result.leftHeld];
  return {
    role,
    channel,
    file,
    bytes: result.bytes,
    // Microseconds and MB/s are as fine as these clocks and rates are read: more digits are float noise.
    seconds: Number(result.seconds.toFixed(6)),
    gbPerSecond: Number((result.bytes / Math.max(result.seconds, 1e-9) / 1e9).toFixed(3)),
    chunks: result.records,
    chunkBytes: result.chunkBytes,
    // Present when the ring had to be smaller than asked (a busy region, a quota).
    ...(result.ringShrunk && { chunkBytesAsked: result.ringShrunk.from }),
    depth: result.depth,
    digest: formatDigest(result.digest),
    verified: true,
    /** Whether the native copy+hash helper or the portable path computed the digest (and why). */
    digestPath: nativeStatus().detail,
    warnings: said.map(forCommands),
  };
}

/**
 * With --json a failure is a JSON result too, on the stream a success would have used, so a script reads
 * one document either way: `verified: false` and the error's code ("Usage" for a refused flag) and
 * message, and `warnings` as a success has them (where a failed receive left what arrived). The error is
 * still reported on stderr and sets the exit code, even when the JSON cannot be written.
 */
export function writeFailureJson(
  fd: 1 | 2,
  head: { role: "send" | "recv"; channel: string | null; file: string | null },
  error: unknown,
  warnings: string[] = [],
): void {
  const failure = {
    ...head,
    verified: false,
    error: errorFields(error),
    warnings: warnings.map(forCommands),
  };
  try {
    writeStandard(fd, `${JSON.stringify(failure)}\n`);
  } catch {
    // A stdout that cannot take it (closed, full) must not hide the failure stderr reports.
  }
}

/**
 * A failure as --json output tells it: the error's code, and the message stderr also shows; for a flag
 * given no value, `flag` names it (the field it sets is null: no value was given).
 */
export function errorFields(error: unknown): { code: string; message: string; flag?: string } {
  const code = error instanceof IvshError ? error.code : error instanceof UsageError ? "Usage" : "Internal";
  // As stderr says it: the flag, not the library's name for the option (errors.ts libraryForm).
  const message = error instanceof Error ? forCommands(error.message) : String(error);
  return error instanceof MissingValue ? { code, message, flag: error.flag } : { code, message };
}
