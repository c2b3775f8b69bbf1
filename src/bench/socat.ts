/**
 * The socat baseline: what a shell user gets streaming over a Unix socket with `socat -b 1048576`.
 *
 * Fairness: the data source is /dev/zero cut at exactly N bytes (`readbytes=N`), not a file, so the
 * sender is not disk bound and, like the Bun sender with its one in-memory chunk, fills a buffer that
 * stays in cache (the kernel zeroes it instead of copying it). The sink is /dev/null, which discards
 * writes without copying them; the Bun receiver instead gets each piece as a JS buffer. So socat is the
 * "C with plain read/write syscalls" reference; Bun's numbers show what its runtime adds.
 *
 * The receiver socat logs at info level (-d -d -d) with microsecond stamps (-lu) into a file: the log gives
 * the exact byte count ("transferred N bytes" per read) and the time from its transfer loop starting
 * (just after accept) to its exit, the same span the Bun receiver times. One log line per read costs about
 * 1 µs against tens of µs for reading 200 KiB, within run-to-run noise.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { failure, IvshError } from "../errors.ts";
import { type Child, startChild, waitUntil } from "./child.ts";
import type { StreamTransfer } from "./stream-protocol.ts";

/** `socat` is looked up on PATH; a path to another build may be given instead. */
export function socatInstalled(command = "socat"): boolean {
  return Bun.which(command) !== null;
}

/** One transfer of `bytes` through a Unix socket in `dir`, between two socat processes. */
export async function socatTransfer(
  command: string,
  bytes: number,
  chunk: number,
  dir: string,
  children: Child[],
): Promise<StreamTransfer> {
  const socket = join(dir, "socat.sock");
  const log = join(dir, "socat-receiver.log");
  const buffer = ["-b", String(chunk)];
  const logging = ["-d", "-d", "-d", "-lu", "-lf", log];
  const receiving = [command, ...logging, "-u", ...buffer, `UNIX-LISTEN:${socket}`, "OPEN:/dev/null"];
  const receiver = startChild(children, receiving, "socat receiver");
  await waitUntil(() => existsSync(socket) || receiver.exited, "socat to listen");
  const sending = [command, "-u", ...buffer, `OPEN:/dev/zero,readbytes=${bytes}`, `UNIX-CONNECT:${socket}`];
  const sender = startChild(children, sending, "socat sender");
  try {
    await Promise.all([receiver.finish(), sender.finish()]);
  } catch (error) {
    throw withLoggedErrors(error, log);
  }
  return parseReceiverLog(readFileSync(log, "utf8"));
}

/** The receiver writes its errors to the log file, not stderr: add them to the failure. */
function withLoggedErrors(error: unknown, log: string): unknown {
  if (!(error instanceof IvshError) || !existsSync(log)) return error;
  const errors = readFileSync(log, "utf8")
    .split("\n")
    .filter((line) => / [EF] /.test(line))
    .map((line) => line.replace(/^.*?\] [EF] /, ""));
  if (errors.length === 0) return error;
  return new IvshError(error.code, `${error.message}; the socat receiver logged: ${errors.join(" | ")}`);
}

const LOG_LINE = /^(\d{4})\/(\d\d)\/(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{6}) \S+\[\d+\] [A-Z] (.*)$/;

/** Byte count and duration from a receiver's `-d -d -d -lu` log. */
export function parseReceiverLog(text: string): StreamTransfer {
  let started: number | undefined;
  let exited: number | undefined;
  let bytes = 0;
  let reads = 0;
  for (const line of text.split("\n")) {
    const match = LOG_LINE.exec(line);
    if (!match) continue;
    const message = match[8]!;
    const transferred = /^transferred (\d+) bytes from/.exec(message);
    if (transferred) {
      bytes += Number(transferred[1]);
      reads++;
    } else if (message.startsWith("starting data transfer loop")) started = stampMicros(match);
    else if (message.startsWith("exiting with status")) exited = stampMicros(match);
  }
  if (started === undefined || exited === undefined)
    throw failure("Internal", "read socat's log", "it lacks the transfer loop's start or socat's exit");
  return { bytes, seconds: (exited - started) / 1e6, reads };
}

/**
 * Local wall-clock stamp in whole microseconds (exact, unlike fractional seconds); both stamps come from
 * one process, so only their difference matters and the time zone does not.
 */
function stampMicros(match: RegExpExecArray): number {
  const [year, month, day, hour, minute, second, micros] = match.slice(1, 8).map(Number) as number[];
  return Date.UTC(year!, month! - 1, day!, hour!, minute!, second!) * 1000 + micros!;
}
