/**
 * The stream baselines' two ends (Fig. 3b's sockets, and the demo's socket copy): `stream-recv` accepts
 * one connection, times it and says `ready` with the address it listens on, then `received`;
 * `stream-send` streams the pattern or a file into it and says `sent`.
 *
 * The sender repeats one in-memory pattern chunk, so the byte at stream offset `o` is
 * `patternByte(o % chunk)`. The receiver checks the first and last byte of every piece it gets against
 * that: cheap enough not to slow it, and it catches lost, duplicated or reordered data.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import type { Socket, SocketHandler } from "bun";
import { failure } from "../errors.ts";
import { connectTo, emit, hostAndPort, type WorkerFlags } from "./worker-io.ts";

export type StreamTransport = "unix" | "tcp";

export interface StreamArgs {
  readonly transport: StreamTransport;
  /** A socket path for unix; `host:port` for tcp (port 0 lets the receiver pick one). */
  readonly address: string;
  readonly bytes: number;
  /** Size of one write for the sender, and the pattern period both sides agree on. */
  readonly chunk: number;
  /**
   * Sender: stream this file's bytes instead of the pattern (the demo's yardstick, a copy as a program
   * without ivsh makes it). Receiver: the stream is a file's, so report its CRC-32 instead of checking
   * the pattern.
   */
  readonly file?: string;
}

export interface StreamTransfer {
  /** Every transfer delivers exactly the bytes asked for, or fails. */
  readonly bytes: number;
  readonly seconds: number;
  /** Data callbacks (or socat reads) the receiver got: bytes / reads is its effective read size. */
  readonly reads: number;
}

/** A stream worker's flags, with the transport checked. */
export function streamArgs(flags: WorkerFlags): StreamArgs {
  const transport = flags.string("transport");
  if (transport !== "unix" && transport !== "tcp")
    throw failure("InvalidArgument", "start a bench worker", `--transport '${transport}' is not unix or tcp`);
  const [address, file] = [flags.string("address"), flags.optional("file")];
  const sizes = { bytes: flags.size("bytes"), chunk: flags.size("chunk") };
  return { transport, address, ...sizes, ...(file === undefined ? {} : { file }) };
}

/** A byte that depends on all bits of its position, so any shift of the stream changes it. */
export function patternByte(position: number): number {
  return Math.imul(position ^ (position >>> 16), 0x9e3779b1) >>> 24;
}

export function patternChunk(size: number): Uint8Array {
  const chunk = new Uint8Array(size);
  for (let position = 0; position < size; position++) chunk[position] = patternByte(position);
  return chunk;
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

function secondsSince(startNs: number): number {
  return (Bun.nanoseconds() - startNs) / 1e9;
}

/** Listens on the worker's address; returns the address a sender should use and how to stop. */
function listen(
  args: Pick<StreamArgs, "transport" | "address">,
  socket: SocketHandler,
): { address: string; stop: () => void } {
  if (args.transport === "unix") {
    const listener = Bun.listen({ unix: args.address, socket });
    return { address: args.address, stop: () => listener.stop(true) };
  }
  const listener = Bun.listen({ ...hostAndPort(args.address), socket });
  return { address: `${listener.hostname}:${listener.port}`, stop: () => listener.stop(true) };
}

/**
 * Accepts one connection on `args.address`, says `ready` with the address a sender should use, and hands
 * every piece to `take` with its stream offset (a reason it returns fails the stream), until the sender
 * ends the stream or, given `until`, that many bytes have arrived. Time runs from the accept to then on
 * this process's clock: both are events of the receiver, so no clocks of two processes are compared.
 */
export async function receiveStream(
  args: Pick<StreamArgs, "transport" | "address">,
  take: (piece: Uint8Array, offset: number) => string | undefined,
  until = Number.POSITIVE_INFINITY,
): Promise<{ bytes: number; seconds: number; pieces: number }> {
  const done = Promise.withResolvers<{ bytes: number; seconds: number; pieces: number }>();
  let connection: Socket<unknown> | undefined;
  let openedAt = 0;
  let received = 0;
  let pieces = 0;
  const fail = (reason: string) => done.reject(failure("PeerGone", "receive the benchmark stream", reason));
  const finish = () => done.resolve({ bytes: received, seconds: secondsSince(openedAt), pieces });
  const handler: SocketHandler = {
    open(socket) {
      if (connection) return void socket.end();
      connection = socket;
      openedAt = Bun.nanoseconds();
    },
    data(socket, piece) {
      if (socket !== connection) return;
      const wrong = take(piece, received);
      if (wrong) fail(wrong);
      received += piece.byteLength;
      pieces++;
      if (received >= until) finish();
    },
    end(socket) {
      if (socket === connection) finish();
    },
    close(socket, error) {
      if (socket === connection)
        fail(`the connection closed after ${received} bytes (${error ?? "no error"})`);
    },
    error(_socket, error) {
      fail(String(error));
    },
  };
  const listener = listen(args, handler);
  try {
    emit({ event: "ready", address: listener.address });
    return await done.promise;
  } finally {
    listener.stop();
  }
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
  const received = await receiveStream(args, take);
  emit({ event: "received", ...received, ...(args.file === undefined ? {} : { crc32 }) });
}

/** Streams the pattern, or the file read a chunk at a time. */
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

/**
 * Streams `source` to a Unix socket's path, or with `tcp` to `HOST:PORT`; resolves with the bytes sent and
 * the seconds from connecting to the last write. Bun's socket.write is unbuffered: it returns how much the
 * kernel took, and the rest is written again on `drain`, so the sender never holds more than a chunk.
 */
export async function sendStream(
  address: string,
  tcp: boolean,
  source: ChunkSource,
): Promise<{ sent: number; seconds: number }> {
  const done = Promise.withResolvers<number>();
  let startedAt = 0;
  let sent = 0;
  let finished = false;
  const fail = (reason: string) => done.reject(failure("PeerGone", "send the benchmark stream", reason));
  const pump = (socket: Socket<unknown>) => {
    while (sent < source.bytes) {
      const { chunk, offset, length } = source.at(sent);
      if (length === 0) return fail(`the file ended after ${sent} of ${source.bytes} bytes`);
      const wrote = socket.write(chunk, offset, length);
      if (wrote < 0) return fail(`the socket closed after ${sent} bytes`);
      sent += wrote;
      if (wrote < length) return; // the kernel's buffer is full: `drain` calls again
    }
    if (finished) return;
    finished = true;
    socket.end();
    done.resolve(secondsSince(startedAt));
  };
  const handler: SocketHandler = {
    open(socket) {
      startedAt = Bun.nanoseconds();
      pump(socket);
    },
    drain: pump,
    close(_socket, error) {
      if (!finished) fail(`the connection closed after ${sent} bytes (${error ?? "no error"})`);
    },
    error(_socket, error) {
      fail(String(error));
    },
  };
  await connectTo(address, tcp, handler);
  const seconds = await done.promise;
  return { sent, seconds };
}

export interface ChunkSource {
  readonly bytes: number;
  /** Where the bytes from stream offset `sent` on are: the rest of the current chunk. */
  at(sent: number): { chunk: Uint8Array; offset: number; length: number };
  close(): void;
}

/** `chunk` repeated up to `bytes`. */
export function repeatedChunk(chunk: Uint8Array, bytes: number): ChunkSource {
  const at = (sent: number) => {
    const offset = sent % chunk.byteLength;
    return { chunk, offset, length: Math.min(chunk.byteLength - offset, bytes - sent) };
  };
  return { bytes, at, close() {} };
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
