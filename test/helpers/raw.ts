/** Raw sockets to the arbiter: frames written and read as they are, below the guest library. */
import type { Socket, SocketHandler } from "bun";
import { decodeFields, encodeFrame, type Frame, FrameDecoder } from "../../src/protocol/codec.ts";
import { FrameKind, messages, PROTOCOL_VERSION, WIRE_MAGIC } from "../../src/protocol/messages.ts";
import { eventually } from "./processes.ts";

export interface RawExchange {
  frames: Frame[];
  /** Whether the arbiter closed the connection within the timeout. */
  closed: boolean;
}

/** Sends arbitrary bytes, and collects what comes back until it closes. */
export async function exchangeRaw(
  socketPath: string,
  chunks: Uint8Array[],
  timeoutMs = 3000,
): Promise<RawExchange> {
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  let closed = false;
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  const socket = await Bun.connect({
    unix: socketPath,
    socket: {
      data(_socket, bytes) {
        decoder.push(bytes);
        for (let frame = decoder.next(); frame; frame = decoder.next()) frames.push(frame);
      },
      close() {
        closed = true;
        done();
      },
    },
  });
  for (const chunk of chunks) socket.write(chunk);
  const timer = setTimeout(done, timeoutMs);
  await finished;
  clearTimeout(timer);
  // Read before ending it: end() may run the close handler at once, which would make `closed` say the
  // arbiter closed a connection that it left open until the timeout.
  const closedByArbiter = closed;
  if (!closed) socket.end();
  return { frames, closed: closedByArbiter };
}

/** A request frame of `op` with `fields`. */
export function requestFrame<N extends keyof typeof messages>(
  op: N,
  requestId: number,
  fields: object,
): Uint8Array {
  return encodeFrame(FrameKind.request, messages[op].op, requestId, messages[op].request, fields as never);
}

/** A hello frame (request id 1), resuming `sessionToken` if one is given. */
export function helloFrame(clientName: string, sessionToken = ""): Uint8Array {
  return requestFrame("hello", 1, {
    magic: WIRE_MAGIC,
    version: PROTOCOL_VERSION,
    clientName,
    pid: 1,
    sessionToken,
  });
}

type RawHandlers = SocketHandler<undefined>;

/**
 * A raw client that keeps every frame it reads, writes what it is given as the socket takes it (Bun's write
 * takes what the socket will: the rest waits for its drain), and tells when it closed. `socket.pause()`
 * makes it a client that reads nothing. `target`: the arbiter's socket path, or a function that connects
 * the given handlers some other way.
 */
export async function rawClient(target: string | ((handlers: RawHandlers) => Promise<Socket<undefined>>)) {
  const frames: Frame[] = [];
  const decoder = new FrameDecoder();
  const closed = Promise.withResolvers<void>();
  let unsent = new Uint8Array(0);
  const flush = () => {
    unsent = unsent.subarray(Math.max(0, socket.write(unsent)));
  };
  const handlers: RawHandlers = {
    data(_socket, bytes) {
      decoder.push(bytes);
      for (let frame = decoder.next(); frame; frame = decoder.next()) frames.push(frame);
    },
    drain: () => flush(),
    close: () => closed.resolve(),
    error: () => closed.resolve(),
  };
  const socket: Socket<undefined> =
    typeof target === "string"
      ? await Bun.connect({ unix: target, socket: handlers })
      : await target(handlers);
  /** Writes `parts`, concatenated, after whatever still waits. */
  const write = (...parts: Uint8Array[]) => {
    unsent = Buffer.concat([unsent, ...parts]);
    flush();
  };
  const send = <N extends keyof typeof messages>(op: N, requestId: number, fields: object) =>
    write(requestFrame(op, requestId, fields));
  /** The first frame read for `requestId`, once there is one. */
  const answer = async (requestId: number, timeoutMs = 20_000, what = `reply ${requestId}`) => {
    await eventually(async () => frames.some((f) => f.requestId === requestId), timeoutMs, what);
    return frames.find((f) => f.requestId === requestId)!;
  };
  /** Sends a hello (request id 1), resuming `sessionToken` if one is given, and decodes its reply. */
  const hello = async (clientName: string, sessionToken = "", timeoutMs = 20_000, what = "reply 1") => {
    write(helloFrame(clientName, sessionToken));
    return decodeFields(messages.hello.reply, (await answer(1, timeoutMs, what)).body, "a hello reply");
  };
  return { frames, socket, write, send, answer, hello, closed: closed.promise };
}

export type RawClient = Awaited<ReturnType<typeof rawClient>>;
