/**
 * The client's connection to the arbiter: Unix socket on the host, TCP (through the VM's bridge) in a
 * guest. Requests are pipelined by id. If the connection drops while the session is live (the arbiter
 * was restarted), it reconnects, resumes the session with its token and re-sends every unanswered
 * request under its original id; the arbiter answers a re-sent mutating request from its journal instead
 * of running it twice, so nothing is lost or duplicated.
 */
import type { Socket, SocketHandler } from "bun";
import { failure, hasTrait, type IvshError, isIvshError } from "../errors.ts";
import { decodeFields, encodeFrame, type Frame, FrameDecoder } from "../protocol/codec.ts";
import {
  FrameKind,
  type MessageName,
  messages,
  type Reply,
  type Request,
  WaitOutcome,
} from "../protocol/messages.ts";
import { Outbox } from "../protocol/outbox.ts";
import { formatWait } from "../units.ts";
import { answerWithin, withTimeout } from "./give-up.ts";
import { journalRefusedHello, versionRefusedHello } from "./hello-refusals.ts";
import {
  ClientClosed,
  cutShort,
  type Endpoint,
  notAnArbiter,
  OPENING_BYTES,
  QueueFull,
  type Reading,
  RefusalUnworded,
  unreachable,
  wireError,
} from "./link-errors.ts";
import { type Pending, PendingRequests } from "./pending.ts";
import { openTcp } from "./tcp-open.ts";

export { describeEndpoint, type Endpoint } from "./link-errors.ts";

interface Link {
  socket: Socket<undefined>;
  outbox: Outbox;
  reading: Reading;
}

/** How long a TCP connect may go unanswered, unless its caller waits longer (connect(): its whole wait). */
export const CONNECT_TIMEOUT_MS = 3000;

/** TCP transports with frames possibly waiting for the turn's end; a last WAKE before exit must leave. */
const batchingTransports = new Set<Transport>();
process.once("exit", () => {
  for (const transport of batchingTransports) transport.flush();
});

export class Transport {
  private link: Link | undefined;
  private readonly pending = new PendingRequests();
  private nextRequestId = 1;
  /** Aborted by the final close(): ends a connect in progress (a resume's), which looks at no caller's signal. */
  private readonly closing = new AbortController();
  /** Frames wait in `pending` until the (re)handshake is done: hello must be the first frame on a link. */
  private held = true;
  private handshakeId = 0;
  /** Set once the session is gone for good; every later call fails with it. */
  lost: IvshError | undefined;
  /** Called when the link drops unexpectedly; the owner decides whether to reconnect. */
  onDisconnect: (() => void) | undefined;
  /** Called once, when the session is first marked lost for good. */
  onLost: (() => void) | undefined;
  /** When this process saw the link drop, until a hello is answered again: see ArbiterLink.downSinceMs. */
  downSinceMs: number | undefined;
  /** When the newest request that has been answered was sent (performance.now() clock). */
  lastAnsweredSentMs = performance.now();
  /** Requests sent per operation: what the benchmarks report as the RPC cost of a workload. */
  readonly requestCounts = new Map<MessageName, number>();
  /**
   * Over TCP (a guest), frames written in one turn of the event loop leave together, as one segment: a
   * second small segment right after the first, from a guest that has just received data, was held
   * ~40 ms (a WAKE then a WAIT, measured under QEMU's user-mode network), which made every cross-VM
   * parked hand-off cost 40 ms. The turn's end is microseconds away, unless the thread blocks first: a
   * futex park flushes before it sleeps (`flush`).
   */
  private readonly coalescing: boolean;
  private batch: Uint8Array[] = [];
  private batchScheduled = false;
  /** Whether the link keeps the process alive now (a new socket does). */
  private referenced = true;

  /** `sysfsRoot`: where this process looks for an IVSHMEM device, for the words of a failed connect. */
  constructor(
    readonly endpoint: Endpoint,
    private readonly sysfsRoot?: string,
  ) {
    this.coalescing = !("unix" in endpoint);
    if (this.coalescing) batchingTransports.add(this);
  }

  get connected(): boolean {
    return this.link !== undefined;
  }

  /** Connected, and its hello answered (`release()` has run): see ArbiterLink.greeted. */
  get greeted(): boolean {
    return this.link !== undefined && !this.held;
  }

  /**
   * Opens the socket (no hello: the caller sends it, as the first request). `signal`, or the final close(),
   * ends a TCP connect still in progress (Interrupted): one whose SYN goes unanswered waits its timeout else.
   * `retried`: the caller tries again whatever refused it, so a refusal comes unworded (RefusalUnworded).
   * `connectMs`: how long a TCP connect may go unanswered.
   */
  async open(signal?: AbortSignal, retried = false, connectMs = CONNECT_TIMEOUT_MS): Promise<void> {
    const reading: Reading = { decoder: new FrameDecoder(), framed: false, opening: new Uint8Array(0) };
    const handlers: SocketHandler<undefined> = {
      data: (_socket, bytes) => this.received(reading, bytes),
      drain: () => {
        this.link?.outbox.flush();
        this.keepAliveWhileBusy();
      },
      close: (socket) => this.dropped(socket),
      error: (socket) => this.dropped(socket),
    };
    const endpoint = this.endpoint;
    const stop = signal ? AbortSignal.any([signal, this.closing.signal]) : this.closing.signal;
    // A Unix connect is done or refused at once; a TCP one is our own, closed when given up (./tcp-open.ts).
    const connecting =
      "unix" in endpoint
        ? Bun.connect({ unix: endpoint.unix, socket: handlers })
        : openTcp(endpoint, handlers, connectMs, stop);
    const socket = await withTimeout(connecting, connectMs).catch((cause: unknown) => {
      // Given up on, it may still open: nobody would use or close it.
      connecting.then((late) => late.end()).catch(() => undefined);
      if (isIvshError(cause, "Interrupted")) throw cause;
      if (retried) throw new RefusalUnworded(this.endpoint, cause, this.sysfsRoot);
      throw unreachable(this.endpoint, cause, this.sysfsRoot);
    });
    // Every frame is small and someone waits for it (a WAKE, a WAIT's answer): no Nagle delay.
    if (!("unix" in endpoint)) socket.setNoDelay(true);
    this.link = { socket, outbox: new Outbox(socket), reading };
    this.held = true;
    this.referenced = true;
    this.keepAliveWhileBusy();
  }

  /**
   * Sends a request and resolves with its reply; rejects with the arbiter's error. Once `letGo` aborts, it
   * keeps no process alive (./pending.ts): its caller gave up on the answer, or never awaited it.
   */
  request<N extends MessageName>(name: N, fields: Request<N>, letGo?: AbortSignal): Promise<Reply<N>> {
    return this.enqueue(name, fields, false, letGo);
  }

  /**
   * The hello of a (re)connection: written at once, ahead of everything held. It gives up after `ms`, or
   * when `signal` aborts: the kernel accepts a connection into the listen backlog even for an arbiter that
   * is stopped (SIGSTOP) or wedged, and nothing else would ever end that wait.
   */
  handshake<N extends MessageName>(
    name: N,
    fields: Request<N>,
    ms: number,
    signal?: AbortSignal,
    shownMs = ms,
  ): Promise<Reply<N>> {
    const why = `it accepted the connection but did not answer within ${formatWait(shownMs)}`;
    const answer = this.enqueue(name, fields, true);
    const verbs: [string, string] = ["greet", "connect to the arbiter"];
    const partly = () => cutShort(this.endpoint, this.link?.reading, formatWait(shownMs));
    return answerWithin(this.endpoint, answer, ms, signal, verbs, why, partly).catch((error: unknown) => {
      throw journalRefusedHello(this.endpoint, error) ?? versionRefusedHello(this.endpoint, error) ?? error;
    });
  }

  /** A request given up on after `ms` or when `signal` aborts: for a one-shot command such as `ivsh status`. */
  requestWithin<N extends MessageName>(
    name: N,
    fields: Request<N>,
    ms: number,
    signal?: AbortSignal,
  ): Promise<Reply<N>> {
    const why = `it did not answer the ${name} request within ${formatWait(ms)}`;
    const answer = this.enqueue(name, fields, false);
    const partly = () => cutShort(this.endpoint, this.link?.reading, formatWait(ms));
    const verbs: [string, string] = ["ask", `ask the arbiter for ${name}`];
    return answerWithin(this.endpoint, answer, ms, signal, verbs, why, partly);
  }

  /** After the handshake: writes every unanswered request, oldest first (a resend after a reconnect). */
  release(): void {
    this.held = false;
    this.downSinceMs = undefined;
    for (const pending of this.pending.values()) this.write(pending.frame);
  }

  /**
   * One-way: sends a request the arbiter answers only if it fails (such an answer matches no pending
   * request and is dropped). Returns false, sending nothing, when there is no link to send it on: the
   * caller then uses an ordinary request, which is kept and re-sent after the reconnect.
   */
  notify<N extends MessageName>(name: N, fields: Request<N>): boolean {
    if (this.lost || !this.link || this.held) return false;
    this.requestCounts.set(name, (this.requestCounts.get(name) ?? 0) + 1);
    const { op, request } = messages[name];
    this.write(encodeFrame(FrameKind.request, op, this.takeRequestId(), request, fields));
    return true;
  }

  /** Fire and forget (heartbeats): the reply is consumed; a fatal error marks the session lost. */
  post<N extends MessageName>(name: N, fields: Request<N>): void {
    this.request(name, fields).catch(() => {});
  }

  /** Fails every unanswered request and all future ones with `error`. */
  fail(error: IvshError): void {
    const first = this.lost === undefined;
    this.lost ??= error;
    if (first) this.onLost?.();
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
    this.keepAliveWhileBusy();
  }

  /** Ends the link; `final` false drops only this link (recovery will open another). */
  close(final = true): void {
    this.flush();
    if (final) {
      this.closing.abort("the client was closed");
      batchingTransports.delete(this);
      // Nothing will answer them now: a caller still awaiting (a lock, a wait) must not hang.
      this.fail(new ClientClosed("get an answer from the arbiter"));
    }
    const link = this.link;
    this.link = undefined;
    link?.socket.end();
  }

  private enqueue<N extends MessageName>(
    name: N,
    fields: Request<N>,
    urgent: boolean,
    letGo?: AbortSignal,
  ): Promise<Reply<N>> {
    // close() sets `lost` (unless an earlier failure already did, which is then the one to tell).
    if (this.lost) return Promise.reject(ClientClosed.for(this.lost, name, fields));
    this.requestCounts.set(name, (this.requestCounts.get(name) ?? 0) + 1);
    const requestId = this.takeRequestId();
    const { op, request } = messages[name];
    const frame = encodeFrame(FrameKind.request, op, requestId, request, fields);
    return new Promise<Reply<N>>((resolve, reject) => {
      const pending = {
        name,
        frame,
        sentMs: performance.now(),
        resolve: resolve as (reply: unknown) => void,
        reject,
      };
      this.pending.add(requestId, pending, letGo, () => this.keepAliveWhileBusy());
      if (urgent) this.handshakeId = requestId;
      if (urgent || !this.held) this.write(frame);
      this.keepAliveWhileBusy();
    });
  }

  /**
   * The link keeps the process alive only while a request awaits its answer or bytes wait to be sent: a
   * script that forgets close() still exits when its work is done (its socket then closes, and the
   * arbiter releases what it held, as for any client that leaves); a request let go of does not count.
   */
  private keepAliveWhileBusy(): void {
    const link = this.link;
    if (!link) return;
    const busy = this.pending.awaited || this.batch.length > 0 || !link.outbox.idle;
    if (busy === this.referenced) return;
    this.referenced = busy;
    if (busy) link.socket.ref();
    else link.socket.unref();
  }

  /** Ids wrap after 2^32 - 1: one still awaiting its answer (a wait parked for days) is skipped, not reused. */
  private takeRequestId(): number {
    const after = (id: number) => (id === 0xffffffff ? 1 : id + 1);
    let requestId = this.nextRequestId;
    while (this.pending.has(requestId)) requestId = after(requestId);
    this.nextRequestId = after(requestId);
    return requestId;
  }

  private write(frame: Uint8Array): void {
    if (!this.link) return; // kept in `pending`; resent after the reconnect
    if (!this.coalescing) {
      this.send(frame);
      return;
    }
    this.batch.push(frame);
    if (this.batchScheduled) return;
    this.batchScheduled = true;
    setImmediate(() => this.flush());
  }

  /** Sends this turn's writes at once: before a futex sleep, which would hold a WAKE back for as long. */
  flush(): void {
    this.batchScheduled = false;
    const frames = this.batch;
    if (frames.length === 0) return;
    this.batch = [];
    if (this.link) this.send(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
  }

  private send(bytes: Uint8Array): void {
    if (!this.link) return;
    try {
      this.link.outbox.send(bytes);
      this.keepAliveWhileBusy();
    } catch {
      this.link.socket.end(); // the close handler starts recovery
    }
  }

  private received(reading: Reading, bytes: Uint8Array): void {
    const { decoder } = reading;
    if (!reading.framed && reading.opening.byteLength < OPENING_BYTES)
      reading.opening = Buffer.concat([reading.opening, bytes.subarray(0, OPENING_BYTES)]);
    decoder.push(bytes);
    try {
      // Each frame is decoded before the next push.
      for (let frame = decoder.nextInPlace(); frame; frame = decoder.nextInPlace()) {
        this.settle(frame);
        reading.framed = true;
      }
    } catch (error) {
      // The arbiter sent something we cannot read: nothing after it can be trusted either. If it was the
      // first frame, what answered is no arbiter at all (an SSH server, an HTTP proxy, ...).
      const unreadable = isIvshError(error)
        ? error
        : failure("BadFrame", "read the arbiter's reply", String(error));
      const first = !reading.framed && isIvshError(unreadable, "BadFrame");
      this.fail(first ? notAnArbiter(this.endpoint, reading.opening, unreadable) : unreadable);
      this.close();
    }
  }

  private settle(frame: Frame): void {
    if (frame.kind === FrameKind.error) {
      const error = wireError(frame);
      // Id 0 is never ours (a frame it could not read; it closes), but NoSpace, or a bridge's full queue
      // (QueueFull), refuses our hello, not the session: a resume tries again (docs/protocol.md 3, 12).
      const hello = error instanceof QueueFull || isIvshError(error, "NoSpace");
      const id = frame.requestId || (hello ? this.handshakeId : 0);
      if (id === 0 || hasTrait(error, "endsSession")) this.fail(error);
      return void this.take(id)?.reject(error);
    }
    // Neither an echo of our hello nor an unreadable reply may leave its request waiting (`received`).
    if (frame.kind !== FrameKind.reply) throw failure("BadFrame", "read a reply", "the peer sent a request");
    const { name } = this.pending.get(frame.requestId) ?? {};
    const reply = name && decodeFields(messages[name].reply, frame.body, `a ${name} reply`);
    this.take(frame.requestId)?.resolve(reply);
  }

  /** The request a frame answers; undefined for a request already failed locally (a late reply). */
  private take(requestId: number): Pending | undefined {
    const pending = this.pending.get(requestId);
    this.pending.delete(requestId);
    if (pending) this.lastAnsweredSentMs = Math.max(this.lastAnsweredSentMs, pending.sentMs);
    this.keepAliveWhileBusy();
    return pending;
  }

  private dropped(socket: Socket<undefined> | undefined): void {
    if (!this.link || (socket && this.link.socket !== socket)) return;
    this.link = undefined;
    this.downSinceMs ??= performance.now();
    // Requests in it stay in `pending` and are re-sent after the next hello; nothing may precede that.
    this.batch = [];
    // A hello that was in flight on this link is never answered: fail it so the recovery loop retries.
    const handshake = this.pending.get(this.handshakeId);
    if (handshake) {
      this.pending.delete(this.handshakeId);
      handshake.reject(failure("ConnectionLost", "greet the arbiter", "the connection closed during hello"));
    }
    // A parked wait would otherwise sleep through the outage while the memory it watches keeps changing.
    // Waits may always end spuriously (every caller re-checks its word), so end them now, not re-sent.
    for (const [requestId, pending] of this.pending)
      if (pending.name === "wait") {
        this.pending.delete(requestId);
        pending.resolve({ outcome: WaitOutcome.woken });
      }
    if (this.closing.signal.aborted || this.lost) return;
    if (this.onDisconnect) this.onDisconnect();
    else this.fail(failure("ConnectionLost", "talk to the arbiter", "the connection closed"));
  }
}
