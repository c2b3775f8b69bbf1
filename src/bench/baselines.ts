/**
 * Fig. 3b's comparison points (docs/bench/README.md says how each is run and timed): N bytes between two
 * processes over a Unix socket (Bun, and socat with 1 MiB buffers) and TCP loopback (Bun), each timed by
 * its receiver, failing rather than reporting a rate when the byte count differs from N.
 *
 * socat is the "C with plain read/write syscalls" reference. Its source is /dev/zero cut at N bytes, so
 * its sender, like the Bun one with its in-memory chunk, is not disk bound; its sink /dev/null discards
 * without copying, where the Bun receiver gets each piece as a JS buffer. It times itself: its receiver
 * logs each read (-d -d -d, microsecond stamps with -lu) into a file, which gives the exact byte count and
 * the span from its transfer loop starting (just after accept) to its exit, about 1 µs per read.
 */
import { existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { failure, IvshError } from "../errors.ts";
import { benchDirectory, type Child, startChild, waitUntil, withChildren } from "./child.ts";
import { MiB, requirePositiveInteger } from "./memory.ts";
import type { StreamArgs, StreamTransfer } from "./stream-worker.ts";
import { type Event, finalEvents, nextEvent, numberField, startWorker, stringField } from "./worker-io.ts";

export type StreamBaseline = "unix-bun" | "unix-socat" | "tcp-bun";

export const STREAM_BASELINES: readonly StreamBaseline[] = ["unix-bun", "unix-socat", "tcp-bun"];

export const STREAM_LABELS: Record<StreamBaseline, string> = {
  "unix-bun": "Unix socket (Bun)",
  "unix-socat": "Unix socket (socat -b 1MiB)",
  "tcp-bun": "TCP loopback (Bun)",
};

export interface StreamOptions {
  readonly bytes: number;
  /** Write size of the senders and socat's buffer size. */
  readonly chunk?: number;
  /** The socat to run: a name looked up on PATH (the default, "socat") or a path. */
  readonly socatCommand?: string;
}

/** One transfer, or why there is none ("socat is not installed"). */
export type StreamMeasurement = StreamTransfer | { readonly unavailable: string };

export async function measureStream(
  baseline: StreamBaseline,
  options: StreamOptions,
): Promise<StreamMeasurement> {
  const { bytes } = options;
  const chunk = options.chunk ?? 1 * MiB;
  requirePositiveInteger(bytes, "measure a stream", "byte count");
  requirePositiveInteger(chunk, "measure a stream", "chunk size");
  const socat = options.socatCommand ?? "socat";
  // Looked up on PATH; a path to another build may be given instead.
  if (baseline === "unix-socat" && Bun.which(socat) === null)
    return { unavailable: "socat is not installed" };
  // The limit after which the transfer's processes are killed. Generous: even 50 MB/s finishes well
  // inside it, so only a hang hits it.
  const timeoutMs = 30_000 + bytes / 50e3;
  const { path: dir, remove } = benchDirectory(tmpdir(), "stream");
  const action = `stream ${bytes} bytes (${baseline})`;
  try {
    const transfer = await withChildren(action, timeoutMs, async (children): Promise<StreamTransfer> => {
      if (baseline === "unix-socat") return socatTransfer(socat, bytes, chunk, dir, children);
      const transport = baseline === "tcp-bun" ? "tcp" : "unix";
      const address = transport === "unix" ? join(dir, "stream.sock") : "127.0.0.1:0";
      const received = await streamBetweenWorkers({ transport, address, bytes, chunk }, children);
      const [seconds, reads] = [numberField(received, "seconds"), numberField(received, "pieces")];
      return { bytes: numberField(received, "bytes"), seconds, reads };
    });
    if (transfer.bytes !== bytes) throw failure("Internal", action, `${transfer.bytes} bytes arrived`);
    return transfer;
  } finally {
    remove();
  }
}

/**
 * One stream from a stream-send to a stream-recv worker (stream-worker.ts): the receiver listens on
 * `stream.address`, the sender connects where the receiver says it listens. Resolves with the receiver's
 * report once both have exited, refusing a stream whose two ends counted different bytes.
 */
export async function streamBetweenWorkers(stream: StreamArgs, children: Child[] = []): Promise<Event> {
  const start = (role: string, address: string, label: string) =>
    startWorker(children, role, { ...stream, address }, label);
  const receiver = start("stream-recv", stream.address, "stream receiver");
  const address = stringField(await nextEvent(receiver, "ready"), "address");
  const sender = start("stream-send", address, "stream sender");
  const [sent, received] = await finalEvents([sender, "sent"], [receiver, "received"]);
  const [sentBytes, receivedBytes] = [numberField(sent, "bytes"), numberField(received, "bytes")];
  const action = `stream over ${stream.transport}`;
  if (sentBytes !== receivedBytes)
    throw failure("Internal", action, `${sentBytes} bytes were sent but ${receivedBytes} received`);
  return received;
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
