/**
 * Fig. 3b's comparison points (docs/bench/README.md): N bytes over a Unix socket (Bun, and socat with 1 MiB
 * buffers) and TCP loopback (Bun), timed by the receiver, failing when the byte count differs from N. The
 * Bun ends (`stream-send`, `stream-recv`; the demo's socket copy too) send a repeated pattern whose every
 * piece's ends the receiver checks (or a `--file`, reported by CRC-32). socat, the plain read/write
 * reference, sends /dev/zero and times itself: its receiver's log (-d -d -d -lu) gives bytes and span.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { failure, IvshError } from "../errors.ts";
import { benchDirectory, type Child, startChild, waitUntil, withChildren } from "./child.ts";
import { MiB, requirePositiveInteger } from "./memory.ts";
import { type ChunkSource, receiveStream, repeatedChunk, sendStream } from "./sockets.ts";
import {
  type Event,
  emit,
  finalEvents,
  nextEvent,
  numberField,
  startWorker,
  stringField,
  type WorkerFlags,
} from "./worker-io.ts";

export type StreamBaseline = "unix-bun" | "unix-socat" | "tcp-bun";

export const STREAM_BASELINES: readonly StreamBaseline[] = ["unix-bun", "unix-socat", "tcp-bun"];

export const STREAM_LABELS: Record<StreamBaseline, string> = {
  "unix-bun": "Unix socket (Bun)",
  "unix-socat": "Unix socket (socat -b 1MiB)",
  "tcp-bun": "TCP loopback (Bun)",
};

export interface StreamArgs {
  readonly transport: "unix" | "tcp";
  /** A socket path for unix; `host:port` for tcp (port 0 lets the receiver pick one). */
  readonly address: string;
  readonly bytes: number;
  /** Size of one write for the sender, and the pattern period both sides agree on. */
  readonly chunk: number;
  /** The sender streams this file; the receiver reports a CRC-32 instead of checking the pattern. */
  readonly file?: string;
}

/** Every transfer delivers exactly the bytes asked for, or fails; `reads`: data callbacks (or socat reads). */
export type StreamTransfer = { readonly bytes: number; readonly seconds: number; readonly reads: number };

/**
 * One transfer, or why there is none ("socat is not installed"). `chunk` is the write size of the senders
 * and socat's buffer size; `socatCommand` a name looked up on PATH (default "socat") or a path.
 */
export async function measureStream(
  baseline: StreamBaseline,
  {
    bytes,
    chunk = 1 * MiB,
    socatCommand: socat = "socat",
  }: { bytes: number; chunk?: number; socatCommand?: string },
): Promise<StreamTransfer | { readonly unavailable: string }> {
  requirePositiveInteger(bytes, "measure a stream", "byte count");
  requirePositiveInteger(chunk, "measure a stream", "chunk size");
  if (baseline === "unix-socat" && Bun.which(socat) === null)
    return { unavailable: "socat is not installed" };
  // Generous: even 50 MB/s finishes well inside it, so only a hang hits it.
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
 * One stream from a stream-send to a stream-recv worker: the sender connects where the receiver says it
 * listens. Resolves with the receiver's report once both have exited, refusing a stream whose two ends
 * counted different bytes.
 */
export async function streamBetweenWorkers(stream: StreamArgs, children: Child[] = []): Promise<Event> {
  const start = (role: string, address: string, label: string) =>
    startWorker(children, role, { ...stream, address }, label);
  const receiver = start("stream-recv", stream.address, "stream receiver");
  const sender = start(
    "stream-send",
    stringField(await nextEvent(receiver, "ready"), "address"),
    "stream sender",
  );
  const [sent, received] = await finalEvents([sender, "sent"], [receiver, "received"]);
  const [sentBytes, receivedBytes] = [numberField(sent, "bytes"), numberField(received, "bytes")];
  if (sentBytes !== receivedBytes)
    throw failure(
      "Internal",
      `stream over ${stream.transport}`,
      `${sentBytes} bytes were sent but ${receivedBytes} received`,
    );
  return received;
}

export function streamArgs(flags: WorkerFlags): StreamArgs {
  const transport = flags.string("transport");
  if (transport !== "unix" && transport !== "tcp")
    throw failure("InvalidArgument", "start a bench worker", `--transport '${transport}' is not unix or tcp`);
  const [address, file] = [flags.string("address"), flags.optional("file")];
  const sizes = { bytes: flags.size("bytes"), chunk: flags.size("chunk") };
  return { transport, address, ...sizes, ...(file === undefined ? {} : { file }) };
}

/** A byte that depends on all bits of its position, so any shift of the stream changes it. */
function patternByte(position: number): number {
  return Math.imul(position ^ (position >>> 16), 0x9e3779b1) >>> 24;
}

export function patternChunk(size: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, position) => patternByte(position));
}

/** Checks a received piece that starts at stream offset `offset`; returns a reason when it is wrong. */
export function checkPiece(piece: Uint8Array, offset: number, chunk: number): string | undefined {
  if (piece.byteLength === 0) return undefined;
  const lastOffset = offset + piece.byteLength - 1;
  if (piece[0] !== patternByte(offset % chunk)) return `byte ${offset} is not the one sent there`;
  if (piece[piece.byteLength - 1] !== patternByte(lastOffset % chunk))
    return `byte ${lastOffset} is not the one sent there`;
  return undefined;
}

/** Counts every byte, spot-checking each piece against the pattern, or a file's CRC-32 (`--file`). */
export async function runStreamReceiver(flags: WorkerFlags): Promise<void> {
  const args = streamArgs(flags);
  let crc32 = 0;
  const take = (piece: Uint8Array, offset: number) => {
    if (args.file === undefined) return checkPiece(piece, offset, args.chunk);
    crc32 = Bun.hash.crc32(piece, crc32);
    return undefined;
  };
  const ready = (address: string) => emit({ event: "ready", address });
  const received = await receiveStream([args.address, args.transport === "tcp"], take, ready);
  emit({ event: "received", ...received, ...(args.file === undefined ? {} : { crc32 }) });
}

export async function runStreamSender(flags: WorkerFlags): Promise<void> {
  const args = streamArgs(flags);
  const source = chunkSource(args);
  try {
    const { sent, seconds } = await sendStream(args.address, args.transport === "tcp", source);
    emit({ event: "sent", bytes: sent, seconds });
  } finally {
    source.close();
  }
}

/** The pattern repeated up to `bytes`, or the file (its size, read one chunk at a time as it is sent). */
function chunkSource(args: StreamArgs): ChunkSource {
  if (args.file === undefined) return repeatedChunk(patternChunk(args.chunk), args.bytes);
  const fd = openSync(args.file, "r");
  const buffer = new Uint8Array(args.chunk);
  let [start, end] = [0, 0];
  const at = (sent: number) => {
    if (sent >= end) [start, end] = [sent, sent + readSync(fd, buffer, 0, buffer.byteLength, sent)];
    return { chunk: buffer, offset: sent - start, length: end - sent };
  };
  return { bytes: fstatSync(fd).size, at, close: () => closeSync(fd) };
}

/** socat's sender retries every millisecond: the socket file appears at bind(), before listen(). */
export const SOCAT_RETRY = ",retry=5000,interval=0.001";

/** One transfer of `bytes` through a Unix socket in `dir`, between two socat processes. */
async function socatTransfer(command: string, bytes: number, chunk: number, dir: string, children: Child[]) {
  const [socket, log] = [join(dir, "socat.sock"), join(dir, "socat-receiver.log")];
  const buffer = ["-b", String(chunk)];
  const logging = ["-d", "-d", "-d", "-lu", "-lf", log];
  const receiving = [command, ...logging, "-u", ...buffer, `UNIX-LISTEN:${socket}`, "OPEN:/dev/null"];
  const receiver = startChild(children, receiving, "socat receiver");
  await waitUntil(() => existsSync(socket) || receiver.exited, "socat to listen");
  const sending = [
    command,
    "-u",
    ...buffer,
    `OPEN:/dev/zero,readbytes=${bytes}`,
    `UNIX-CONNECT:${socket}${SOCAT_RETRY}`,
  ];
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
  let [started, exited]: (number | undefined)[] = [];
  let [bytes, reads] = [0, 0];
  for (const line of text.split("\n")) {
    const match = LOG_LINE.exec(line);
    const message = match?.[8];
    if (!match || message === undefined) continue;
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

/** A log stamp in whole microseconds (exact); only differences matter, so the time zone does not. */
function stampMicros(match: RegExpExecArray): number {
  const [year, month, day, hour, minute, second, micros] = match.slice(1, 8).map(Number) as number[];
  return Date.UTC(year!, month! - 1, day!, hour!, minute!, second!) * 1000 + micros!;
}
