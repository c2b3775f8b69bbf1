/**
 * The bridge's preferred path: instead of relaying a guest connection for its whole life (a Bun process
 * per connection, ~40 MiB), hand the connection itself to the arbiter and exit. QEMU's guestfwd gives the
 * bridge the connection as one socket on stdin and stdout; the bridge opens an ordinary connection to the
 * arbiter, passes that descriptor to the arbiter's hand-over socket (SCM_RIGHTS) with the VM name and a
 * nonce, then asks the arbiter, on that connection, to adopt what it left under that nonce. It reads nothing from the guest first, so
 * the guest's bytes wait in the socket for the arbiter.
 */
import { randomUUID } from "node:crypto";
import { failure, isIvshError } from "../errors.ts";
import { EAGAIN } from "../ffi/errno.ts";
import { sendWithFd } from "../ffi/fd-passing.ts";
import { fileStatus, SystemCallError } from "../ffi/index.ts";
import { decodeError, encodeFrame, type Frame, FrameDecoder } from "../protocol/codec.ts";
import { FrameKind, handoverDatagram, messages } from "../protocol/messages.ts";
import { handoverPath } from "./handover.ts";

const HANDOVER_REQUEST_ID = 1;
const ANSWER_TIMEOUT_MS = 5000;
/** How often a bridge tries again to send its datagram to a full hand-over socket. */
const SEND_RETRY_MS = 20;

/** Why the connection on stdin/stdout cannot be handed over, or undefined if it can. */
export function handoverObstacle(): string | undefined {
  const input = fileStatus(0, "stdin");
  if (input.type !== "socket") return `stdin is a ${input.type}, not the guest's socket`;
  if (fileStatus(1, "stdout").identity !== input.identity) return "stdin and stdout are not one socket";
  return undefined;
}

/**
 * Hands the guest connection on stdin to the arbiter at `socketPath` as VM `vm`. Throws if it could not
 * (no hand-over socket: an arbiter from before hand-over; a refusal); the caller may then relay instead,
 * unless `leftWithArbiter` says the arbiter may still adopt it.
 */
export async function handOver(vm: string, socketPath: string): Promise<void> {
  const nonce = randomUUID();
  const datagram = encodeFrame(FrameKind.request, messages.handover.op, 0, handoverDatagram, { vm, nonce });
  // Connected first: an arbiter whose accept queue is full (stopped, overloaded) refuses here, before the
  // guest's descriptor is left in its hand-over socket (ten such fill it, and the bridges after them then
  // wait there 5 s and close the guest's connection untold); the relay then tells the guest why.
  const link = await openLink(socketPath);
  try {
    await sendWithin(handoverPath(socketPath), datagram, socketPath);
  } catch (error) {
    link.end();
    throw error;
  }
  const request = encodeFrame(
    FrameKind.request,
    messages.handover.op,
    HANDOVER_REQUEST_ID,
    messages.handover.request,
    {
      nonce,
    },
  );
  const answer = await link.ask(request);
  if (answer.kind === FrameKind.error) throw decodeError(answer.body);
}

/**
 * Sends the datagram, waiting at most ANSWER_TIMEOUT_MS for room: an arbiter that reads nothing (stopped,
 * overloaded) has a full queue, and a bridge blocked in sendmsg would wait as long as it stalls, one more
 * such process for each try of a guest that reconnects meanwhile.
 */
async function sendWithin(path: string, datagram: Uint8Array, socketPath: string): Promise<void> {
  const deadline = performance.now() + ANSWER_TIMEOUT_MS;
  for (;;) {
    try {
      return sendWithFd(path, datagram, 0, false);
    } catch (error) {
      if (!(error instanceof SystemCallError) || error.errno !== EAGAIN) throw error;
    }
    if (performance.now() >= deadline)
      throw failure(
        "Timeout",
        `hand the guest connection to the arbiter at ${socketPath}`,
        `its hand-over socket ${path} took nothing for ${ANSWER_TIMEOUT_MS} ms (its queue is full: the arbiter ` +
          "is stopped or overloaded); the guest's connection is closed, not relayed, and the guest reconnects",
      );
    await Bun.sleep(SEND_RETRY_MS);
  }
}

/**
 * Whether `error`, from handOver, leaves the connection with the arbiter: its request went unanswered in
 * time, but the datagram and the request are in its sockets, so an arbiter that was only slow adopts the
 * connection later. Relaying it as well would make two readers of one guest socket. (Also when its
 * datagram found no room in time: a relay would wait on the same stalled arbiter.)
 */
export function leftWithArbiter(error: unknown): boolean {
  return isIvshError(error, "Timeout");
}

/** A fresh connection to the arbiter, to ask one question on: `ask` resolves with the first frame back. */
async function openLink(
  socketPath: string,
): Promise<{ ask(request: Uint8Array): Promise<Frame>; end(): void }> {
  const answered = Promise.withResolvers<Frame>();
  answered.promise.catch(() => undefined); // a close before the question is asked is told by `ask`
  const decoder = new FrameDecoder();
  const action = `hand the guest connection to the arbiter at ${socketPath}`;
  const socket = await Bun.connect({
    unix: socketPath,
    socket: {
      data: (_socket, bytes) => {
        decoder.push(bytes);
        const frame = decoder.next();
        if (frame) answered.resolve(frame);
      },
      close: () => answered.reject(failure("ArbiterUnreachable", action, "it closed the connection")),
      error: () => answered.reject(failure("ArbiterUnreachable", action, "the connection failed")),
    },
  });
  const ask = (request: Uint8Array) => {
    const timer = setTimeout(
      () =>
        answered.reject(
          failure(
            "Timeout",
            action,
            `it did not answer within ${ANSWER_TIMEOUT_MS} ms; the connection is left with it, not relayed, as its ` +
              "request is in the arbiter's socket (it adopts the connection when it reads that, or closes it after its hand-over TTL)",
          ),
        ),
      ANSWER_TIMEOUT_MS,
    );
    socket.write(request);
    return answered.promise.finally(() => {
      clearTimeout(timer);
      socket.end();
    });
  };
  return { ask, end: () => socket.end() };
}
