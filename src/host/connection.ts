/**
 * One client connection as the arbiter sees it: the byte stream split into frames, replies queued in
 * order, and where the connection is in the handshake (identify? → hello → requests).
 */
import type { Socket } from "bun";
import { failure, IvshError } from "../errors.ts";
import { encodeErrorFrame, encodeFrameTransient, FrameDecoder } from "../protocol/codec.ts";
import { FrameKind, HOST_VM, type MessageName, messages, type Reply } from "../protocol/messages.ts";
import { Outbox } from "../protocol/outbox.ts";
import { REPLY_CACHE_SIZE } from "./recorded-state.ts";

const CLOSE_GRACE_MS = 2000;
/**
 * Replies queued unsent at which the connection's requests are no longer read. A reply lost with a killed
 * arbiter is re-asked after the restart and found in the reply cache only among its newest entries: a
 * client that sends without reading (a busy event loop) could otherwise have more requests done and
 * unanswered than the cache holds, and those past it would be run twice.
 */
const MAX_UNSENT_REPLIES = REPLY_CACHE_SIZE / 2;
/** A connection that has not said hello by then is closed: it holds a decoder and a socket for nothing. */
export const DEFAULT_HELLO_WAIT_MS = 30_000;

export type ConnectionPhase = "greeting" | "ready" | "closing";

export class Connection {
  readonly decoder = new FrameDecoder();
  readonly outbox: Outbox;
  phase: ConnectionPhase = "greeting";
  /** VM identity, from a bridge's identify frame; host processes connecting directly are "host". */
  vm = HOST_VM;
  identified = false;
  /**
   * A hello arrived, answered or refused: identify and handover are accepted only before one. A refused
   * hello leaves the connection greeting, and one identified after it changed VM under its counts.
   */
  saidHello = false;
  clientId = 0;
  private shutdownWhenDrained = false;
  /** Requests are not read while too many replies wait to be sent (`mayHandleMore`). */
  private readingHeld = false;
  /** Set when this connection's session expired: its next frame gets this error, then the connection closes. */
  leaseExpiredError: IvshError | undefined;
  /**
   * Pending timers hold the connection, its socket and buffers until they fire: cleared when the socket
   * closes, or a client that connects and leaves at once would be kept for the whole hello wait (30 s:
   * 28 000 connect/close cycles grew the arbiter from 47 to 254 MiB).
   */
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(
    readonly socket: Socket<Connection>,
    helloWaitMs = DEFAULT_HELLO_WAIT_MS,
  ) {
    this.outbox = new Outbox(socket);
    this.after(helloWaitMs, () => {
      if (this.phase !== "greeting") return;
      const reason = `no hello arrived within ${helloWaitMs} ms of connecting`;
      this.failAndClose(0, 0, failure("ProtocolState", "greet the client", reason));
    });
  }

  /** The socket closed: nothing is left for its timers to do, and they must not keep it in memory. */
  socketClosed(): void {
    this.phase = "closing";
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private after(ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      action();
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }

  /** Sets the VM identity (a bridge's identify frame, or its hand-over); set at most once. */
  identifyAs(vm: string): void {
    this.vm = vm;
    this.identified = true;
  }

  /** Once closing, the connection sends nothing more and ignores what it reads. */
  get closing(): boolean {
    return this.phase === "closing";
  }

  /** Nothing sent now reaches the peer: the connection is closing, or a write found its socket closed. */
  get unreachable(): boolean {
    return this.phase === "closing" || this.outbox.peerGone;
  }

  reply<N extends MessageName>(name: N, requestId: number, fields: Reply<N>): void {
    const { op, reply: schema } = messages[name];
    this.sendFrame(encodeFrameTransient(FrameKind.reply, op, requestId, schema, fields));
  }

  fail(op: number, requestId: number, error: IvshError): void {
    this.sendFrame(encodeErrorFrame(op, requestId, error));
  }

  /** Answers with an error, then closes once the answer is out: for frames that end the conversation. */
  failAndClose(op: number, requestId: number, error: IvshError): void {
    this.fail(op, requestId, error);
    this.close();
  }

  /**
   * Ends the conversation: stops sending but keeps reading (and ignoring) until the peer closes, or at the
   * latest after CLOSE_GRACE_MS. Closing outright would let the peer's next write fail with EPIPE, and its
   * socket would then be torn down before it reads the error frame explaining why.
   */
  close(): void {
    if (this.phase === "closing") return;
    this.phase = "closing";
    if (this.outbox.idle) this.socket.shutdown();
    else this.shutdownWhenDrained = true; // the last frames are still queued: shut down once they are out
    this.after(CLOSE_GRACE_MS, () => this.socket.end());
  }

  /**
   * Whether the next request may be handled now: not while MAX_UNSENT_REPLIES replies wait to be sent.
   * Reading stops meanwhile, so the peer's writes meet the kernel's backpressure instead of our memory.
   */
  mayHandleMore(): boolean {
    if (this.outbox.queuedFrames < MAX_UNSENT_REPLIES) return true;
    if (!this.readingHeld) this.socket.pause();
    this.readingHeld = true;
    return false;
  }

  /**
   * The socket can take more: send what is queued, and finish a close that waited for it. True when
   * requests held back by `mayHandleMore` may be handled again (the caller handles those already read).
   */
  drained(): boolean {
    this.outbox.flush();
    if (this.shutdownWhenDrained && this.outbox.idle) {
      this.shutdownWhenDrained = false;
      this.socket.shutdown();
    }
    if (!this.readingHeld || this.outbox.queuedFrames >= MAX_UNSENT_REPLIES) return false;
    this.readingHeld = false;
    this.socket.resume();
    return true;
  }

  private sendFrame(frame: Uint8Array): void {
    if (this.unreachable) return;
    try {
      this.outbox.send(frame);
    } catch (error) {
      if (!(error instanceof IvshError)) throw error;
      // The peer closed its socket: what it sent before (a goodbye behind a request whose answer it no
      // longer awaited) is still read and handled, unanswered, until the socket's close event ends it.
      if (!this.outbox.peerGone) this.close();
    }
  }
}
