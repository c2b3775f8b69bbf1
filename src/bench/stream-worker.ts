/**
 * The stream baselines' two ends (Fig. 3b's sockets, and the demo's socket copy): `stream-recv` accepts
 * one connection and times it, `stream-send` streams the pattern or a file into it (stream-protocol.ts).
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import type { Socket, SocketHandler } from "bun";
import { failure } from "../errors.ts";
import { checkPiece, patternChunk, type StreamArgs, streamArgs } from "./stream-protocol.ts";
import { connectTo, type Event, emit, hostAndPort, type WorkerFlags } from "./worker-io.ts";

function secondsSince(startNs: number): number {
  return (Bun.nanoseconds() - startNs) / 1e9;
}

/** Listens on the worker's address; returns the address a sender should use and how to stop. */
function listen(args: StreamArgs, socket: SocketHandler): { address: string; stop: () => void } {
  if (args.transport === "unix") {
    const listener = Bun.listen({ unix: args.address, socket });
    return { address: args.address, stop: () => listener.stop(true) };
  }
  const listener = Bun.listen({ ...hostAndPort(args.address), socket });
  return { address: `${listener.hostname}:${listener.port}`, stop: () => listener.stop(true) };
}

/**
 * Accepts one connection and counts every byte, spot-checking each piece against the pattern, until
 * the sender ends the stream. Time runs from the accept to the end of stream on this process's clock:
 * both are events of the receiver, so no clocks of two processes are compared.
 */
export async function runStreamReceiver(flags: WorkerFlags): Promise<void> {
  const args = streamArgs(flags);
  const done = Promise.withResolvers<Event>();
  let connection: Socket<unknown> | undefined;
  let openedAt = 0;
  let received = 0;
  let pieces = 0;
  let crc32 = 0;
  const fail = (reason: string) => done.reject(failure("PeerGone", "receive the benchmark stream", reason));
  const handler: SocketHandler = {
    open(socket) {
      if (connection) return void socket.end();
      connection = socket;
      openedAt = Bun.nanoseconds();
    },
    data(socket, piece) {
      if (socket !== connection) return;
      if (args.file !== undefined) crc32 = Bun.hash.crc32(piece, crc32);
      else {
        const wrong = checkPiece(piece, received, args.chunk);
        if (wrong) fail(wrong);
      }
      received += piece.byteLength;
      pieces++;
    },
    end(socket) {
      if (socket !== connection) return;
      const seconds = secondsSince(openedAt);
      const ofFile = args.file === undefined ? {} : { crc32 };
      done.resolve({ event: "received", bytes: received, seconds, pieces, ...ofFile });
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
    emit(await done.promise);
  } finally {
    listener.stop();
  }
}

/**
 * Streams `bytes` from one chunk: the pattern, or the file read a chunk at a time. Bun's socket.write is
 * unbuffered: it returns how much the kernel took, and the rest is written again on `drain`, so the
 * sender never holds more than the chunk.
 */
export async function runStreamSender(flags: WorkerFlags): Promise<void> {
  const args = streamArgs(flags);
  const source = chunkSource(args);
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
  await connectTo(args.address, args.transport === "tcp", handler);
  try {
    const seconds = await done.promise;
    emit({ event: "sent", bytes: sent, seconds });
  } finally {
    source.close();
  }
}

interface ChunkSource {
  readonly bytes: number;
  /** Where the bytes from stream offset `sent` on are: the rest of the current chunk. */
  at(sent: number): { chunk: Uint8Array; offset: number; length: number };
  close(): void;
}

/** The pattern repeated up to `bytes`, or the file (its size, read one chunk at a time as it is sent). */
function chunkSource(args: StreamArgs): ChunkSource {
  if (args.file === undefined) {
    const chunk = patternChunk(args.chunk);
    const at = (sent: number) => {
      const offset = sent % chunk.byteLength;
      return { chunk, offset, length: Math.min(chunk.byteLength - offset, args.bytes - sent) };
    };
    return { bytes: args.bytes, at, close() {} };
  }
  const fd = openSync(args.file, "r");
  const buffer = new Uint8Array(args.chunk);
  let [start, end] = [0, 0];
  const at = (sent: number) => {
    if (sent >= end) [start, end] = [sent, sent + readSync(fd, buffer, 0, buffer.byteLength, sent)];
    return { chunk: buffer, offset: sent - start, length: end - sent };
  };
  return { bytes: fstatSync(fd).size, at, close: () => closeSync(fd) };
}
