/**
 * One connection as the arbiter must see it (docs/protocol.md sections 2-4 and 8): the bytes the fuzzer
 * sends are split into frames exactly as the arbiter splits them, each frame is judged in the phase the
 * connection is in at that point, and the result is what the arbiter must answer. A mutated length that
 * swallows the next frame, or a flood after a fatal frame, is therefore predicted frame by frame.
 */
import type { ErrorCodeName } from "../../src/errors.ts";
import {
  type MessageName,
  MUTATING,
  messages,
  PROTOCOL_VERSION,
  WIRE_MAGIC,
} from "../../src/protocol/messages.ts";
import { judgeRequest, type OracleContext, type Verdict } from "./oracle.ts";
import { type Fields, type Parsed, readBody, type WireFrame, WireSplitter } from "./wire.ts";

export type Phase = "greeting" | "ready" | "undecided" | "closing";

export interface Expectation extends Verdict {
  /** Number of the fuzzer's frame in which the arbiter's frame starts (1-based, per connection). */
  frame: number;
  op: number;
  requestId: number;
  name: MessageName | undefined;
  fields: Fields | undefined;
  sentAt: number;
}

export interface ModelContext extends OracleContext {
  /** Session tokens the arbiter handed out: a hello carrying one may resume, or be refused. */
  isKnownToken(token: string): boolean;
}

const namesByOp = new Map<number, MessageName>(
  (Object.keys(messages) as MessageName[]).map((name) => [messages[name].op, name]),
);
const VM_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export function opName(op: number): MessageName | undefined {
  return namesByOp.get(op);
}

export class ConnectionModel {
  phase: Phase = "greeting";
  identified = false;
  /** A hello was sent, answered or refused: identify and handover are accepted only before one. */
  saidHello = false;
  /** A resumed session brings its reply cache: any mutating request id may be answered from it. */
  inheritedReplies = false;
  private readonly stream = new WireSplitter();
  /** Where each of the fuzzer's frames starts in the stream; `unitHead` is the oldest still needed. */
  private units: { start: number; frame: number }[] = [];
  private unitHead = 0;
  private sentBytes = 0;
  private readonly mutatingSent = new Set<string>();

  constructor(private readonly context: ModelContext) {}

  /** Takes bytes about to be sent as frame number `frame`; returns what the arbiter must do about them. */
  feed(bytes: Uint8Array, frame: number): Expectation[] {
    if (this.phase === "closing") return [];
    this.units.push({ start: this.sentBytes, frame });
    this.sentBytes += bytes.byteLength;
    this.stream.push(bytes);
    const expected: Expectation[] = [];
    for (let parsed = this.stream.next(); parsed && !this.isClosing; parsed = this.stream.next()) {
      if (this.phase === "undecided") throw new Error("fuzzer bug: a frame sent after an undecided hello");
      expected.push(this.judge(parsed));
    }
    return expected;
  }

  get isClosing(): boolean {
    return this.phase === "closing";
  }

  /** Bytes the arbiter still waits for to complete the frame in progress. */
  get missing(): number {
    return this.phase === "closing" ? 0 : this.stream.missing;
  }

  /** An answer to an undecided hello arrived: a reply means the session was resumed. */
  settleHello(resumed: boolean, code: ErrorCodeName | undefined): void {
    if (this.phase !== "undecided") return;
    this.phase = resumed ? "ready" : code === "PermissionDenied" ? "greeting" : "closing";
    this.inheritedReplies = resumed;
  }

  closed(): void {
    this.phase = "closing";
  }

  private judge(parsed: Parsed): Expectation {
    const frame = this.frameAt(parsed.start);
    if ("problem" in parsed) return this.fatal(frame, { op: 0, requestId: 0 }, "BadFrame");
    const wire = parsed.frame;
    if (wire.kind !== 0) return this.fatal(frame, wire, "BadFrame");
    const name = opName(wire.op);
    if (!name) return this.fatal(frame, wire, "UnknownOp");
    const greeting = name === "hello" || name === "identify" || name === "handover";
    // A status is answered in either phase: before hello without a session (docs/protocol.md section 2).
    if (name !== "status" && (this.phase === "greeting") !== greeting)
      return this.fatal(frame, wire, "ProtocolState");
    if (name === "identify" && this.identified) return this.fatal(frame, wire, "ProtocolState");
    if ((name === "identify" || name === "handover") && this.saidHello)
      return this.fatal(frame, wire, "ProtocolState");
    if (name === "hello" && !speaksOurVersion(wire.body)) return this.fatal(frame, wire, "VersionMismatch");
    // An empty status body is what clients from before its fields send: the arbiter reads it as the default.
    const legacyStatus = name === "status" && wire.body.byteLength === 0;
    const body = legacyStatus ? { fields: {} } : readBody(messages[name].request, wire.body);
    if ("problem" in body) return this.fatal(frame, wire, "BadFrame");
    const verdict = this.semantics(name, wire, body.fields);
    if (verdict.mode === "fatal" || verdict.closes) this.phase = "closing";
    return this.expectation(frame, wire, name, body.fields, verdict);
  }

  private semantics(name: MessageName, wire: WireFrame, fields: Fields): Verdict {
    if (name === "identify") {
      if (!VM_NAME.test(fields.vm as string)) return fatalVerdict("ProtocolState");
      this.identified = true;
      return { mode: "answer", codes: [], reply: true };
    }
    if (name === "hello") return this.hello(fields.sessionToken as string);
    // Nothing the fuzzer sends was left in the hand-over socket: every nonce is unknown to the arbiter.
    if (name === "handover") return fatalVerdict("ProtocolState");
    const verdict = judgeRequest(name, fields, this.context);
    if (!MUTATING.has(name)) return verdict;
    const key = `${name}:${wire.requestId}`;
    const cached = this.inheritedReplies || this.mutatingSent.has(key);
    this.mutatingSent.add(key);
    // The reply cache answers a repeated (op, request id) with the first reply, whatever the arguments.
    return cached ? { ...verdict, reply: true, check: undefined } : verdict;
  }

  private hello(token: string): Verdict {
    this.saidHello = true;
    if (token === "") {
      this.phase = "ready";
      return { mode: "answer", codes: [], reply: true, check: (reply) => this.helloProblem(reply) };
    }
    if (!this.context.isKnownToken(token)) return fatalVerdict("SessionUnknown");
    this.phase = "undecided";
    return { mode: "answer", codes: ["SessionUnknown", "ProtocolState", "PermissionDenied"], reply: true };
  }

  private helloProblem(reply: Fields): string | undefined {
    const { geometry, leaseMs } = this.context;
    if (reply.resumed !== 0) return "a new session says it was resumed";
    if (!/^[0-9a-f]{32}$/.test(reply.sessionToken as string)) return `token '${reply.sessionToken}'`;
    if (reply.blockSize !== geometry.blockSize || reply.blockCount !== geometry.blockCount)
      return `geometry ${reply.blockCount} x ${reply.blockSize} changed`;
    return reply.leaseMs === leaseMs ? undefined : `lease ${reply.leaseMs}`;
  }

  private fatal(frame: number, wire: { op: number; requestId: number }, code: ErrorCodeName): Expectation {
    this.phase = "closing";
    return this.expectation(frame, wire, opName(wire.op), undefined, fatalVerdict(code));
  }

  private expectation(
    frame: number,
    wire: { op: number; requestId: number },
    name: MessageName | undefined,
    fields: Fields | undefined,
    verdict: Verdict,
  ): Expectation {
    return { ...verdict, frame, op: wire.op, requestId: wire.requestId, name, fields, sentAt: 0 };
  }

  /** The fuzzer's frame number that holds stream offset `start`. */
  private frameAt(start: number): number {
    while (this.unitHead + 1 < this.units.length && this.units[this.unitHead + 1]!.start <= start)
      this.unitHead++;
    if (this.unitHead > 1024) {
      this.units = this.units.slice(this.unitHead);
      this.unitHead = 0;
    }
    return this.units[this.unitHead]?.frame ?? 0;
  }
}

function fatalVerdict(code: ErrorCodeName): Verdict {
  return { mode: "fatal", codes: [code], reply: false };
}

/** docs/protocol.md section 4: magic and version are the first six bytes of a hello, checked first. */
function speaksOurVersion(body: Uint8Array): boolean {
  if (body.byteLength < 6) return false;
  const view = new DataView(body.buffer, body.byteOffset, 6);
  return view.getUint32(0, true) === WIRE_MAGIC && view.getUint16(4, true) === PROTOCOL_VERSION;
}
