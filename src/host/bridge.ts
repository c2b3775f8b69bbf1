/**
 * The bridge between one guest connection and the arbiter. QEMU's user-mode network runs
 * `ivsh bridge --vm NAME --socket PATH` for each TCP connection a guest opens to the forwarded address,
 * with that connection on stdin/stdout. The bridge first tells the arbiter which VM this is (an identify
 * frame the guest never sees, and cannot send itself: the arbiter accepts identify only as the first
 * frame), then relays bytes both ways until either side closes.
 */
import type { Socket } from "bun";
import { userName } from "../accounts.ts";
import { failure, IvshError } from "../errors.ts";
import { errnoOf } from "../ffi/index.ts";
import { linkTrouble, QueueFull } from "../guest/link-errors.ts";
import {
  decodeError,
  decodeFields,
  encodeErrorFrame,
  encodeFrame,
  type Frame,
  FrameDecoder,
} from "../protocol/codec.ts";
import { FrameKind, messages } from "../protocol/messages.ts";
import { Outbox } from "../protocol/outbox.ts";

const IDENTIFY_REQUEST_ID = 0;
/** How long a bridge without an arbiter waits for the guest's hello, to answer it with the reason. */
const FIRST_REQUEST_WAIT_MS = 2000;
/** How long a relaying bridge waits for the answer to its identify (as a hand-over does for its answer). */
const IDENTIFY_WAIT_MS = 5000;

export interface BridgeStreams {
  input: ReadableStream<Uint8Array>;
  output: { write(bytes: Uint8Array): unknown; flush?(): unknown };
}

/**
 * Relays until either side closes; resolves then, rejects if the arbiter refuses the identity. `reached`
 * is called once the arbiter took the identity, before the relay starts.
 */
export async function runBridge(
  vm: string,
  socketPath: string,
  streams: BridgeStreams,
  reached: () => void = () => undefined,
): Promise<void> {
  const identified = Promise.withResolvers<void>();
  const closed = Promise.withResolvers<void>();
  const decoder = new FrameDecoder();
  let relaying = false;
  let outbox: Outbox | undefined;
  // The relay holds back as the arbiter does (docs/protocol.md section 11): the guest's next bytes are read
  // only once the arbiter's socket took the last, and the arbiter's only once the guest's took theirs. So
  // the arbiter's hold (it stops reading a connection while 32 replies wait) reaches the guest, and the
  // bridge keeps neither side's bytes in its own memory without bound.
  let outboxDrained: PromiseWithResolvers<void> | undefined;
  let refusal: IvshError | undefined;
  const socket: Socket<undefined> = await Bun.connect({
    unix: socketPath,
    socket: {
      data(_socket, bytes) {
        if (relaying) return forwardHeld(streams, socket, bytes);
        decoder.push(bytes);
        const frame = decoder.next();
        if (!frame) return;
        if (frame.kind === FrameKind.error) {
          refusal = decodeError(frame.body);
          return identified.reject(refusal);
        }
        relaying = true;
        identified.resolve();
        // Anything after the identify reply (nothing, normally) belongs to the guest.
        const rest = decoder.drain();
        if (rest.byteLength > 0) forward(streams, rest);
      },
      drain: () => {
        outbox?.flush();
        if (outbox?.idle) outboxDrained?.resolve();
      },
      close: () => closed.resolve(),
      error: () => closed.resolve(),
    },
  }).catch(async (cause: unknown) => {
    const error = bridgeUnreachable(vm, socketPath, cause);
    // The guest's client would otherwise only see its connection close during hello. A full queue is
    // answered unasked (request id 0): the guest's client then tries again, as a host client waits for it.
    await answerFirstRequest(streams, error, error instanceof QueueFull);
    throw error;
  });
  outbox = new Outbox(socket);
  outbox.send(
    encodeFrame(FrameKind.request, messages.identify.op, IDENTIFY_REQUEST_ID, messages.identify.request, {
      vm,
    }),
  );
  await untilIdentified(vm, socketPath, socket, Promise.race([identified.promise, closed.promise])).catch(
    async (error: unknown) => {
      // Refused (NoSpace: no room for another connection): the guest's hello gets the reason; else it saw
      // only its connection close, or, handed over first, stay open until the arbiter's hand-over TTL.
      if (refusal && error === refusal) await answerFirstRequest(streams, refusal);
      throw error;
    },
  );
  if (!relaying)
    throw failure("ArbiterUnreachable", `bridge VM '${vm}'`, "the arbiter closed the connection");
  reached();
  const reader: ChunkReader = streams.input.getReader();
  const sent = outbox;
  const untilSent = async () => {
    if (sent.idle) return;
    outboxDrained = Promise.withResolvers<void>();
    await Promise.race([outboxDrained.promise, closed.promise]);
  };
  const pumping = pumpInput(reader, sent, untilSent).finally(() => socket.end());
  await Promise.race([pumping, closed.promise]);
  // The arbiter went away (killed, restarting): stop reading the guest, so that the bridge exits and the
  // guest sees its connection close and reconnects, instead of waiting on a connection to no one.
  await reader.cancel().catch(() => undefined);
}

/**
 * Waits for the arbiter's answer to the identify, IDENTIFY_WAIT_MS at most, as a hand-over waits for its
 * answer: a stalled arbiter (stopped, overloaded) would otherwise keep the bridge, ~40 MiB, for as long as
 * it stalls, however long ago its guest gave up, one more for each try of a guest that reconnects.
 */
async function untilIdentified(
  vm: string,
  socketPath: string,
  socket: Socket<undefined>,
  answered: Promise<void>,
) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      socket.terminate();
      reject(
        failure(
          "Timeout",
          `relay the guest connection of VM '${vm}' to the arbiter at ${socketPath}`,
          `it did not answer the bridge's identify within ${IDENTIFY_WAIT_MS} ms (it is stopped or overloaded); ` +
            "the guest's connection is closed, and the guest reconnects",
        ),
      );
    }, IDENTIFY_WAIT_MS);
  });
  try {
    await Promise.race([answered, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Why the bridge could not reach the arbiter, for the operator who set up the VM: a socket QEMU's user may
 * not open (mode 0660: that user is not in its group) is an arbiter that runs, not one to start.
 */
function bridgeUnreachable(vm: string, socketPath: string, cause: unknown): IvshError {
  const { why, hint, barred, notSocket, queueFull } = linkTrouble({ unix: socketPath }, cause);
  const action = `reach the arbiter for VM '${vm}'`;
  // One is there, stopped or too busy to accept: nothing to start, and the guest's retries may get in.
  if (queueFull)
    return new QueueFull(
      `Failed to ${action} since the host's bridge could not connect to ${socketPath}: ${why} (${hint})`,
      { cause },
    );
  if (barred)
    return failure(
      "ArbiterUnreachable",
      action,
      `the host's bridge, running as ${userName(process.getuid?.() ?? -1)}, QEMU's user, may not open ` +
        `${socketPath}: ${hint}; run QEMU as a member of the socket's group, as for the region file`,
    );
  // An arbiter would refuse to listen where another file is: only the VM's --socket can be wrong then.
  const start = notSocket ? "" : `start \`ivsh host --socket ${socketPath}\` on the host, or `;
  const message = `Failed to ${action} since the host's bridge found none on ${socketPath}: ${why}; ${start}start the VM with the --socket the arbiter serves`;
  // None listening (a dead one's socket) or none there: an arbiter restarting looks so too.
  const restarting = !notSocket && ["ECONNREFUSED", "ENOENT"].includes(errnoOf(cause));
  return restarting ? new NoArbiter(message) : new IvshError("ArbiterUnreachable", message);
}

/** No arbiter runs on the bridge's socket (not started, or restarting: a guest's session tries again). */
export class NoArbiter extends IvshError {
  constructor(message: string) {
    super("ArbiterUnreachable", message);
  }
}

/**
 * Answers the guest's first request (its hello) with `error`, giving up after FIRST_REQUEST_WAIT_MS;
 * `unasked`: as an error frame of request id 0, which the guest's client retries (docs/protocol.md 12),
 * except to a resume's hello, which gets its own id as before: a client from before id 0 was answered
 * retries that, where an id-0 error would end its session.
 */
async function answerFirstRequest(streams: BridgeStreams, error: IvshError, unasked = false): Promise<void> {
  const decoder = new FrameDecoder();
  const reader = streams.input.getReader();
  // Cancelled once answered: an uncancelled timer kept the bridge, and the guest waiting on it, 2 s longer.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const giveUp = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, FIRST_REQUEST_WAIT_MS, undefined);
  });
  try {
    for (;;) {
      const chunk = await Promise.race([reader.read(), giveUp]);
      if (!chunk || chunk.done) return;
      decoder.push(chunk.value);
      const frame = decoder.next();
      if (!frame) continue;
      const asked = !unasked || resumes(frame);
      return forward(streams, encodeErrorFrame(asked ? frame.op : 0, asked ? frame.requestId : 0, error));
    }
  } catch {
    // Nothing to tell a guest that sent garbage or went away.
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
}

/** Whether `frame` is a hello that resumes a session (it names the session's token). */
function resumes(frame: Frame): boolean {
  if (frame.kind !== FrameKind.request || frame.op !== messages.hello.op) return false;
  try {
    return decodeFields(messages.hello.request, frame.body, "the guest's hello").sessionToken !== "";
  } catch {
    return false; // not a hello we can read: answered as a new connection's
  }
}

/** Forwards the arbiter's bytes to the guest; stops reading the arbiter until the guest has taken them. */
function forwardHeld(streams: BridgeStreams, socket: Socket<undefined>, bytes: Uint8Array): void {
  const written = streams.output.write(bytes);
  const flushed = streams.output.flush?.();
  const pending = flushed instanceof Promise ? flushed : written instanceof Promise ? written : undefined;
  if (!pending) return;
  socket.pause();
  pending.then(
    () => socket.resume(),
    () => undefined, // the guest went away: the input side ends the relay
  );
}

function forward(streams: BridgeStreams, bytes: Uint8Array): void {
  streams.output.write(bytes);
  streams.output.flush?.();
}

/** What the relay needs of the guest's input: its reader, which `cancel` ends (and its pending read). */
interface ChunkReader {
  read(): Promise<{ done: boolean; value?: Uint8Array }>;
  cancel(): Promise<void>;
}

/** Sends the guest's bytes to the arbiter, reading the next only once `untilSent` says these left. */
async function pumpInput(reader: ChunkReader, outbox: Outbox, untilSent: () => Promise<void>): Promise<void> {
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    if (chunk.value) outbox.send(chunk.value);
    await untilSent();
  }
}
