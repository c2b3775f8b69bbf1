/**
 * From bytes to answers. The policy, per docs/protocol.md:
 * - a frame that cannot be read (bad length, bad header, truncated body, unknown op, wrong version, a
 *   request out of order) is answered with an error and its connection is closed;
 * - a well-formed request that cannot be granted (no space, permission denied, ...) is answered with an
 *   error and the connection stays;
 * - nothing one connection sends can disturb another: every failure is caught per frame.
 */
import { failure, hasTrait, IvshError } from "../errors.ts";
import { log } from "../log.ts";
import { decodeFields, encodeFrame, type Frame } from "../protocol/codec.ts";
import {
  checkHelloVersion,
  FRAME_HEADER_BYTES,
  FrameKind,
  type MessageName,
  MUTATING,
  messageNameOf,
  messages,
  type Reply,
  type Request,
  STATUS_DEFAULT_LIMIT,
} from "../protocol/messages.ts";
import type { ArbiterView } from "./arbiter-view.ts";
import type { Connection } from "./connection.ts";
import { handlers } from "./handlers.ts";
import { allocGranted, allocRetried, requestRefused, sessionActive } from "./oplog.ts";
import type { Session } from "./recorded-state.ts";
import { JournalWriteFailed } from "./state-file.ts";

export function handleData(arbiter: ArbiterView, connection: Connection, bytes: Uint8Array): void {
  // A closing connection is read only so its peer can still read our last frame: keeping what it sends
  // would let a peer that goes on writing grow the decoder (and the arbiter) until the grace period ends.
  if (connection.closing) return;
  connection.decoder.push(bytes);
  for (;;) {
    if (connection.closing || !connection.mayHandleMore()) return;
    let frame: Frame | undefined;
    try {
      frame = connection.decoder.nextInPlace(); // decoded before the next push
    } catch (error) {
      connection.failAndClose(0, 0, asIvshError(error));
      return;
    }
    if (!frame) return;
    handleFrame(arbiter, connection, frame);
  }
}

/** Replies went out: requests read while they were held back (Connection.mayHandleMore) are handled now. */
export function handleDrain(arbiter: ArbiterView, connection: Connection, stopped: boolean): void {
  if (connection.drained() && !stopped) handleData(arbiter, connection, NOTHING_MORE);
}

const NOTHING_MORE = new Uint8Array(0);

function handleFrame(arbiter: ArbiterView, connection: Connection, frame: Frame): void {
  const { op, requestId } = frame;
  // An alloc's size, for the log of its refusal: no object per request on this path.
  let allocBytes: number | undefined;
  try {
    const name = checkFrame(connection, frame);
    const session = arbiter.state.sessions.get(connection.clientId);
    const seenBefore = session !== undefined && sawRequestId(session, requestId);
    if (connection.clientId !== 0) arbiter.touch(connection.clientId);
    if (!QUIET_REQUESTS.has(name)) sessionActive(arbiter.state.sessions.get(connection.clientId));
    if (name === "hello") checkHelloVersion(frame.body);
    const request = decodeFields(messages[name].request, bodyOf(name, frame.body), REQUEST_WORDS[name]);
    if (name === "alloc") allocBytes = (request as Request<"alloc">).bytes;
    const reply = run(arbiter, connection, name, request, requestId, seenBefore);
    if (name === "alloc" && session) allocGranted(session);
    if (reply) connection.reply(name, requestId, reply);
  } catch (error) {
    const problem = asIvshError(error);
    if (problem.code === "Internal") log.error(`client ${connection.clientId}: op ${op}:`, error);
    // A journal that cannot be written the arbiter reports itself, once for many requests (Arbiter.transaction).
    else if (!(problem instanceof JournalWriteFailed))
      requestRefused(
        connection.clientId,
        connection.vm,
        messageNameOf(op) ?? `op ${op}`,
        problem,
        smallerRetry(arbiter, connection, allocBytes, problem),
      );
    if (hasTrait(problem, "endsConnection")) connection.failAndClose(op, requestId, problem);
    else connection.fail(op, requestId, problem);
  }
}

/** Whether a refused request is an alloc for want of room smaller than its session's last such refusal. */
function smallerRetry(
  arbiter: ArbiterView,
  connection: Connection,
  allocBytes: number | undefined,
  problem: IvshError,
): boolean {
  if (allocBytes === undefined || !(problem.code === "NoSpace" || problem.code === "QuotaExceeded"))
    return false;
  const session = arbiter.state.sessions.get(connection.clientId);
  return session !== undefined && allocRetried(session, allocBytes, problem.message);
}

/** Each request as a decoding error names it ("an alloc request"): made once, not per request. */
const REQUEST_WORDS = Object.fromEntries(
  Object.keys(messages).map((name) => [name, `${/^[aeiou]/.test(name) ? "an" : "a"} ${name} request`]),
) as Record<MessageName, string>;

/** What a monitor polling `ivsh status` asks: a session that asks nothing else is logged at debug only. */
const QUIET_REQUESTS = new Set<MessageName>(["identify", "handover", "hello", "status", "heartbeat", "bye"]);

/** Validates a frame's place in the conversation and names its message. */
function checkFrame(connection: Connection, frame: Frame): MessageName {
  if (connection.leaseExpiredError) throw connection.leaseExpiredError;
  if (frame.kind !== FrameKind.request)
    throw failure("BadFrame", `handle frame op ${frame.op}`, "clients send requests, not replies");
  const name = messageNameOf(frame.op);
  if (!name) throw failure("UnknownOp", `handle op ${frame.op}`, "this arbiter has no such operation");
  const greeting = name === "hello" || name === "identify" || name === "handover";
  // A status needs no session: asked before hello, it is answered while the journal cannot record one.
  if (connection.phase === "greeting" && !greeting && name !== "status")
    throw failure(
      "ProtocolState",
      `handle ${name}`,
      "the first request on a connection must be hello (or a status, answered without a session)",
    );
  if (connection.phase === "ready" && greeting)
    throw failure("ProtocolState", `handle ${name}`, "this connection has already said hello");
  if (connection.saidHello && (name === "identify" || name === "handover"))
    throw failure(
      "ProtocolState",
      `handle ${name}`,
      "this connection has already said hello (refused, it still counts: identify and handover come before any hello; open a new connection)",
    );
  if (name === "handover" && connection.identified)
    throw failure("ProtocolState", "handle handover", "a guest's connection cannot hand a connection over");
  if (name === "identify" && connection.identified)
    throw failure(
      "ProtocolState",
      "handle identify",
      "the connection's VM identity is already set (by its bridge)",
    );
  return name;
}

/** What a status request from a client older than its fields (an empty body) means: the default. */
const LEGACY_STATUS_BODY = encodeFrame(FrameKind.request, messages.status.op, 0, messages.status.request, {
  limit: STATUS_DEFAULT_LIMIT,
  onlyClient: 0,
}).subarray(FRAME_HEADER_BYTES);

function bodyOf(name: MessageName, body: Uint8Array): Uint8Array {
  return name === "status" && body.byteLength === 0 ? LEGACY_STATUS_BODY : body;
}

function run<N extends MessageName>(
  arbiter: ArbiterView,
  connection: Connection,
  name: N,
  request: Request<N>,
  requestId: number,
  seenBefore: boolean,
): Reply<N> | undefined {
  const handler = handlers[name] as (
    a: ArbiterView,
    c: Connection,
    r: Request<N>,
    id: number,
  ) => Reply<N> | undefined;
  // A goodbye's session end is a transaction of its own, which keeps the session for its lease when the
  // journal cannot take it; nested in one here, it would log the release before the write failed.
  if (name === "bye") return handler(arbiter, connection, request, requestId);
  if (!MUTATING.has(name)) return arbiter.transaction(() => handler(arbiter, connection, request, requestId));
  const session = arbiter.state.session(connection.clientId);
  const cached = seenBefore ? arbiter.state.cachedReply(session, requestId, name) : undefined;
  if (cached) return cached as Reply<N>;
  // The change and the reply cached for a re-send reach the journal in one write.
  return arbiter.transaction(() => {
    const reply = handler(arbiter, connection, request, requestId);
    if (reply)
      arbiter.state.rememberReply(session, requestId, name, reply as Record<string, number | string>);
    return reply;
  });
}

/**
 * The newest request id each session sent, kept in memory (after a restart, its reply cache's newest id
 * stands in). A client numbers its requests 1, 2, 3, ... and wraps after 2^32 - 1: an id past the newest is
 * a new request, never a re-send, and must not be answered from the reply cache, which may still hold an
 * entry of that op and id from 2^32 requests before (an alloc was answered with a segment freed long ago).
 */
const newestRequestIds = new WeakMap<Session, number>();
/**
 * How far before the newest id a re-sent request may be: a re-send is of a request in flight when its
 * connection dropped, and those are a few thousand at most (docs/protocol.md section 11). Anything older
 * is a new request that wrapped around.
 */
const RESEND_WINDOW = 2 ** 24;

/** Whether `requestId` may be a re-send (at most RESEND_WINDOW before the newest id); notes it if not. */
function sawRequestId(session: Session, requestId: number): boolean {
  const newest = newestRequestIds.get(session) ?? [...session.replies.keys()].at(-1);
  if (newest !== undefined && (newest - requestId) >>> 0 <= RESEND_WINDOW) {
    newestRequestIds.set(session, newest);
    return true;
  }
  newestRequestIds.set(session, requestId);
  return false;
}

function asIvshError(error: unknown): IvshError {
  if (error instanceof IvshError) return error;
  return new IvshError(
    "Internal",
    `Failed to handle a request since the arbiter hit a bug: ${String(error)}`,
  );
}
