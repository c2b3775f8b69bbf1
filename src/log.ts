/**
 * The one logger of ivsh. Library code does not print; commands and the arbiter's serve loop do. All of
 * it goes to stderr: stdout is for data (`ivsh guest recv --out -`) and for `--json` results.
 *
 * Its own, small, rather than a logging package: printing the one summary line of `ivsh guest send` took
 * 5.5 ms through consola (its reporters load on first use), a fifth of a whole 1 KiB transfer. Colour
 * only on a terminal and without NO_COLOR, so logs and pipes never carry escape codes.
 *
 * Level: IVSH_LOG_LEVEL = error | warn | info (the default) | debug; DEBUG set in the environment also
 * means debug.
 */

import { writeSync } from "node:fs";
import { failure, forCommands, IvshError } from "./errors.ts";
import { closedAtStart, errnoOf, isTerminal } from "./ffi/index.ts";
import { stderrIsJournal } from "./journal.ts";

const LEVELS = { error: 0, warn: 1, info: 2, debug: 3 } as const;
export type LogLevel = keyof typeof LEVELS;

/** The levels, least to most: what --log-level and IVSH_LOG_LEVEL take. */
export const LOG_LEVELS = Object.keys(LEVELS) as LogLevel[];

export function isLogLevel(name: string): name is LogLevel {
  return Object.hasOwn(LEVELS, name);
}

/**
 * Writes `text` to stdout (1) or stderr (2) at once, without Node's stream objects: in the compiled binary
 * the first use of `process.stdout` / `process.stderr` builds them, 1–10 ms of CPU in a command whose
 * whole 1 KiB transfer costs ~14 ms. A descriptor that would block takes the rest through the stream,
 * which waits; a reader that went away (EPIPE, a terminal hung up: EIO, as on the SIGHUP of a dropped
 * ssh session) is not an error of ours. Output that cannot go to stdout otherwise (closed at start:
 * `>&-`, where the runtime's /dev/null would drop it; a full disk) fails the command, naming stdout. One
 * that cannot go to stderr (a log file on a full disk) is dropped: there is nowhere left to say so, and
 * thrown, it ended `ivsh host`'s command at its first line while its arbiter served on, deaf to SIGTERM.
 */
export function writeStandard(fd: 1 | 2, text: string): void {
  if (fd === 1) refuseClosedStdout();
  const bytes = Buffer.from(text);
  let done = 0;
  try {
    while (done < bytes.length) done += writeSync(fd, bytes, done);
  } catch (error) {
    if (errnoOf(error) === "EAGAIN") handOver(fd, bytes.subarray(done));
    else throwUnlessReaderGone(fd, error);
  }
}

/** A write's failure, thrown unless its reader went away (EPIPE, EIO) or it is stderr's (nowhere to say it). */
function throwUnlessReaderGone(fd: 1 | 2, error: unknown): void {
  const code = errnoOf(error);
  if (code === "EPIPE" || code === "EIO" || (fd === 2 && code)) return;
  if (fd === 1 && code) throw failure("SystemCall", OUTPUT, reasonOfWrite(error, code));
  throw error;
}

/** What writeStandard handed to a stream and is not written yet (`standardWritten`). */
const handedOver = new Set<Promise<void>>();

/** The streams whose failures are looked at here (once each). */
const watchedStreams = new Set<1 | 2>();

function handOver(fd: 1 | 2, rest: Uint8Array): void {
  const stream = fd === 1 ? process.stdout : process.stderr;
  // The same failures as a write at once: a reader gone after the pipe filled (a non-blocking pipe, its
  // reader `head -1`) escaped as the stream's error, "Failed to write since broken pipe (EPIPE)" and exit
  // 1, so a script took `ivsh status --check | head -1` for an arbiter that did not answer.
  if (!watchedStreams.has(fd)) stream.on("error", (error) => throwUnlessReaderGone(fd, error));
  watchedStreams.add(fd);
  // The write's own callback: Bun calls that of a later empty write before the data before it is out.
  const written = new Promise<void>((resolve) => stream.write(rest, () => resolve()));
  handedOver.add(written);
  void written.then(() => handedOver.delete(written));
}

/**
 * Resolves once what writeStandard handed to the streams is written: process.exit drops it (Bun wrote
 * 64 KiB of a 1 MiB write to a pipe, then exited).
 */
export async function standardWritten(): Promise<void> {
  await Promise.all(handedOver);
}

const OUTPUT = "write the output to stdout";

/** node:fs's "ENOSPC: no space left on device, write" as "no space left on device (ENOSPC)". */
function reasonOfWrite(error: unknown, code: string): string {
  const reason = /^E[A-Z0-9]+: ([^,]+)/.exec(error instanceof Error ? error.message : "")?.[1];
  return reason ? `${reason} (${code})` : code;
}
let stdoutChecked = false;

/**
 * Checked once, at the first write to stdout: a command that never writes there runs with it closed. A
 * command whose result goes there only at its end (a transfer's --json) checks first, so that it fails
 * before it has done anything.
 */
export function refuseClosedStdout(): void {
  if (stdoutChecked) return;
  stdoutChecked = true;
  if (closedAtStart(1))
    throw failure(
      "SystemCall",
      OUTPUT,
      "stdout was closed when ivsh started (>&-, EBADF): redirect it (> FILE, or > /dev/null to drop it)",
    );
}

/**
 * Syslog priorities, which journald reads from a line's start (`<3>`): without them every line of the
 * arbiter under systemd was info, so `journalctl -p warning` and the error colours of `systemctl status`
 * missed its refusals and the error it stopped on.
 */
const PRIORITIES: Record<LogLevel, number> = { error: 3, warn: 4, info: 6, debug: 7 };
/** syslog's notice: normal but significant (a command stopped as asked). */
const NOTICE_PRIORITY = 5;

const RED = 31;
const GREEN = 32;
const YELLOW = 33;
const GREY = 90;

function levelFromEnvironment(): LogLevel {
  const named = process.env.IVSH_LOG_LEVEL?.toLowerCase();
  if (named && isLogLevel(named)) return named;
  if (named)
    writeStandard(
      2,
      `${stderrIsJournal() ? "<4>" : "[ivsh] "}WARN IVSH_LOG_LEVEL=${process.env.IVSH_LOG_LEVEL} is not one of ${Object.keys(LEVELS).join(", ")}: logging at info\n`,
    );
  const debug = process.env.DEBUG;
  return debug && debug !== "0" && debug !== "false" ? "debug" : "info";
}

/**
 * A message's parts as one line: an unexpected Error (a bug) with its stack, an IvshError by its message.
 * Messages quote what clients sent (a client's name, a segment's, a file's), so every control character
 * in them is escaped: a name holding "\n[ivsh] WARN ..." must not print as a line of the arbiter's own.
 * Only a bug's stack keeps its lines.
 */
function render(parts: unknown[]): string {
  return parts
    .map((part) => {
      // An Internal error is a bug: its stack is what the report needs.
      // Only commands print: the library's names of options (connect({ socket })) are left out for the flag.
      if (part instanceof IvshError)
        return part.code === "Internal"
          ? (part.stack ?? part.message)
          : escapeControls(forCommands(part.message));
      if (part instanceof Error) return part.stack ?? part.message;
      return escapeControls(typeof part === "string" ? forCommands(part) : Bun.inspect(part));
    })
    .join(" ");
}

const CONTROL_NAMES: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * C0 and C1 controls, DEL, the Unicode line and paragraph separators and the bidirectional formatting
 * characters (U+202E would show the rest of the line reversed), as escapes (`\n`, `\x1b`, `\u202e`): for
 * any text that quotes what clients sent and goes to a terminal or a log (status.ts too).
 */
export function escapeControls(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g, (character) => {
    const code = character.charCodeAt(0);
    return (
      CONTROL_NAMES[character] ??
      (code > 0xff ? `\\u${code.toString(16).padStart(4, "0")}` : `\\x${code.toString(16).padStart(2, "0")}`)
    );
  });
}

class Logger {
  level: LogLevel = levelFromEnvironment();
  private colour: boolean | undefined;
  private toJournal: boolean | undefined;

  error(...parts: unknown[]): void {
    this.write("error", this.badge("ERROR", RED), parts);
  }

  warn(...parts: unknown[]): void {
    this.write("warn", this.badge("WARN", YELLOW), parts);
  }

  /**
   * What ended a command the user stopped (Ctrl-C, SIGTERM): shown as a warning is, unlabelled, for it is
   * no failure (it read "ERROR"); the exit code (128 + N) says the signal. The journal's notice priority.
   */
  notice(...parts: unknown[]): void {
    this.write("warn", "", parts, NOTICE_PRIORITY);
  }

  info(...parts: unknown[]): void {
    this.write("info", "ℹ", parts);
  }

  success(...parts: unknown[]): void {
    this.write("info", this.paint("✔", GREEN), parts);
  }

  debug(...parts: unknown[]): void {
    this.write("debug", this.paint("debug", GREY), parts);
  }

  private write(level: LogLevel, mark: string, parts: unknown[], priorityNumber = PRIORITIES[level]): void {
    if (LEVELS[level] > LEVELS[this.level]) return;
    // Messages may quote colourful text (citty's errors do): plain unless colour is on.
    const text = this.useColour() ? render(parts) : Bun.stripANSI(render(parts));
    // The journal names the process on every line: there each line (a bug's stack has several) says its
    // priority instead of [ivsh].
    if (this.journal()) {
      const priority = `<${priorityNumber}>`;
      writeStandard(2, `${priority}${mark ? `${mark} ` : ""}${text.replaceAll("\n", `\n${priority}`)}\n`);
    } else writeStandard(2, `${this.paint("[ivsh]", GREY)} ${mark ? `${mark} ` : ""}${text}\n`);
  }

  private journal(): boolean {
    this.toJournal ??= stderrIsJournal();
    return this.toJournal;
  }

  private badge(text: string, code: number): string {
    return this.useColour() ? `\x1b[${code + 10}m\x1b[30m ${text} \x1b[0m` : text;
  }

  private paint(text: string, code: number): string {
    return this.useColour() ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  private useColour(): boolean {
    this.colour ??= isTerminal(2) && !process.env.NO_COLOR && process.env.TERM !== "dumb";
    return this.colour;
  }
}

export const log = new Logger();
