/** Every socket of the workers, Unix (a path) or TCP (`HOST:PORT`): messages, timed streams, a relay. */
import type { Socket, SocketHandler } from "bun";
import { failure } from "../errors.ts";

/** A message that carries one stamp of the shared clock, a float64. */
export const STAMP_BYTES = 8;

/** `HOST:PORT` as Bun.connect and Bun.listen take it. */
function hostAndPort(address: string): { hostname: string; port: number } {
  const separator = address.lastIndexOf(":");
  const port = Number(address.slice(separator + 1));
  if (separator < 0 || !Number.isInteger(port) || port < 0 || port > 65535)
    throw failure("InvalidArgument", "start a bench worker", `'${address}' is not host:port`);
  return { hostname: address.slice(0, separator), port };
}

function connectTo(address: string, tcp: boolean, socket: SocketHandler<undefined>) {
  return tcp ? Bun.connect({ ...hostAndPort(address), socket }) : Bun.connect({ unix: address, socket });
}

/** Listens; returns the address a peer should use (TCP port 0 is given one) and how to stop. */
export function listenOn(address: string, tcp: boolean, socket: SocketHandler<undefined>) {
  if (!tcp) {
    const listener = Bun.listen({ unix: address, socket });
    return { address, stop: () => listener.stop(true) };
  }
  const listener = Bun.listen({ ...hostAndPort(address), socket });
  return { address: `${listener.hostname}:${listener.port}`, stop: () => listener.stop(true) };
}

/** A connection of whole `size`-byte messages (a write may arrive split or joined); `next`: the oldest. */
export class MessageLink {
  private pending = new Uint8Array(0);
  private readonly arrived: Uint8Array[] = [];
  private wake: (() => void) | undefined;
  private closed = false;
  private socket: Socket<undefined> | undefined;
  private stopListening: (() => void) | undefined;

  /** `peer` names who sends them, for the error when it hangs up first. */
  constructor(
    private readonly size: number,
    private readonly peer: string,
  ) {}

  static async connect(address: string, tcp: boolean, size: number, peer: string): Promise<MessageLink> {
    const link = new MessageLink(size, peer);
    link.socket = await connectTo(address, tcp, link.handler());
    // The baseline at its best for small messages, as ivsh's own guest connection is.
    if (tcp) link.socket.setNoDelay(true);
    return link;
  }

  /** Listens on the Unix socket `address`, runs `listening`, and resolves once a connection is accepted. */
  static async accept(address: string, size: number, peer: string, listening: () => Promise<void>) {
    const link = new MessageLink(size, peer);
    const accepted = Promise.withResolvers<void>();
    const open = (socket: Socket<undefined>) => {
      link.socket = socket;
      accepted.resolve();
    };
    link.stopListening = listenOn(address, false, { open, ...link.handler() }).stop;
    await listening();
    await accepted.promise;
    return link;
  }

  private add(bytes: Uint8Array): Uint8Array[] {
    const joined = new Uint8Array(this.pending.byteLength + bytes.byteLength);
    joined.set(this.pending);
    joined.set(bytes, this.pending.byteLength);
    const whole = joined.byteLength - (joined.byteLength % this.size);
    this.pending = joined.slice(whole);
    return Array.from({ length: whole / this.size }, (_, at) =>
      joined.slice(at * this.size, (at + 1) * this.size),
    );
  }

  private handler(): SocketHandler<undefined> {
    const wake = () => this.wake?.();
    return {
      data: (_socket, bytes) => {
        this.arrived.push(...this.add(bytes));
        wake();
      },
      close: () => {
        this.closed = true;
        wake();
      },
    };
  }

  send(message: Uint8Array): void {
    this.socket!.write(message);
  }

  async next(): Promise<Uint8Array> {
    while (this.arrived.length === 0) {
      if (this.closed)
        throw failure("PeerGone", `read the next message from ${this.peer}`, "it closed the connection");
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
    return this.arrived.shift()!;
  }

  close(): void {
    this.socket?.end();
    this.stopListening?.();
  }
}

/** The bytes of a stream: the rest of the current chunk from stream offset `sent` on. */
export interface ChunkSource {
  readonly bytes: number;
  at(sent: number): { chunk: Uint8Array; offset: number; length: number };
  close(): void;
}

export function repeatedChunk(chunk: Uint8Array, bytes: number): ChunkSource {
  const at = (sent: number) => {
    const offset = sent % chunk.byteLength;
    return { chunk, offset, length: Math.min(chunk.byteLength - offset, bytes - sent) };
  };
  return { bytes, at, close() {} };
}

const secondsSince = (startNs: number) => (Bun.nanoseconds() - startNs) / 1e9;

export type Received = { bytes: number; seconds: number; pieces: number };

/**
 * Accepts one connection, tells `ready` its address, and hands `take` each piece at its offset (a reason
 * it returns fails the stream) until the end or `until` bytes; timed from the accept on this clock alone.
 */
export async function receiveStream(
  [address, tcp]: readonly [string, boolean],
  take: (piece: Uint8Array, offset: number) => string | undefined,
  ready: (address: string) => void,
  until = Number.POSITIVE_INFINITY,
): Promise<Received> {
  const done = Promise.withResolvers<Received>();
  let connection: Socket<undefined> | undefined;
  let [openedAt, received, pieces] = [0, 0, 0];
  const fail = (reason: string) => done.reject(failure("PeerGone", "receive the benchmark stream", reason));
  const finish = () => done.resolve({ bytes: received, seconds: secondsSince(openedAt), pieces });
  const listener = listenOn(address, tcp, {
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
    end: (socket) => void (socket === connection && finish()),
    close(socket, error) {
      if (socket === connection)
        fail(`the connection closed after ${received} bytes (${error ?? "no error"})`);
    },
    error: (_socket, error) => fail(String(error)),
  });
  try {
    ready(listener.address);
    return await done.promise;
  } finally {
    listener.stop();
  }
}

/** Streams `source` to `address`, the rest of a partial write again on `drain`; bytes and seconds sent. */
export async function sendStream(address: string, tcp: boolean, source: ChunkSource) {
  const done = Promise.withResolvers<number>();
  let [startedAt, sent, finished] = [0, 0, false];
  const fail = (reason: string) => done.reject(failure("PeerGone", "send the benchmark stream", reason));
  const pump = (socket: Socket<undefined>) => {
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
  await connectTo(address, tcp, {
    open(socket) {
      startedAt = Bun.nanoseconds();
      pump(socket);
    },
    drain: pump,
    close(_socket, error) {
      if (!finished) fail(`the connection closed after ${sent} bytes (${error ?? "no error"})`);
    },
    error: (_socket, error) => fail(String(error)),
  });
  const seconds = await done.promise;
  return { sent, seconds };
}

/** Forwards between the connection it accepts on `address` and the socket `to` until either closes. */
export async function relay(address: string, to: string, ready: () => void): Promise<void> {
  const done = Promise.withResolvers<void>();
  let inbound: Socket<undefined> | undefined;
  const outbound = await connectTo(to, false, {
    data: (_socket, bytes) => void inbound?.write(bytes),
    close: () => done.resolve(),
  });
  const listener = listenOn(address, false, {
    open(socket) {
      inbound = socket;
    },
    data: (_socket, bytes) => void outbound.write(bytes),
    close() {
      outbound.end();
      done.resolve();
    },
  });
  try {
    ready();
    await done.promise;
  } finally {
    listener.stop();
  }
}
