/**
 * One fuzz connection's socket: sends what the session builds, holds what the model says the arbiter must
 * answer, and checks every frame that comes back against it. Anything the protocol does not allow is a
 * violation: a frame that does not decode, an unexpected or out-of-order answer, a wrong error code,
 * Internal, a close without an error, a frame after the closing error, or no answer within the bound.
 */
import type { Socket } from "bun";
import { type ErrorCodeName, errorCodeName } from "../../src/errors.ts";
import { errorBody, messages } from "../../src/protocol/messages.ts";
import { Outbox } from "../../src/protocol/outbox.ts";
import { type ConnectionModel, type Expectation, opName } from "./model.ts";
import type { FuzzStats } from "./report.ts";
import { type Fields, readBody, type WireFrame, WireSplitter } from "./wire.ts";

/** Errors after which the arbiter must close the connection (docs/protocol.md section 8). */
export const FATAL_CODES = new Set<ErrorCodeName>([
  "BadFrame",
  "VersionMismatch",
  "UnknownOp",
  "ProtocolState",
  "SessionUnknown",
  "LeaseExpired",
]);
const HOUSE_STYLE = /^Failed to [\s\S]+ since [\s\S]+$/;
const WAIT_OP = messages.wait.op;

export interface LinkOptions {
  socketPath: string;
  connection: number;
  stats: FuzzStats;
  livenessMs: number;
  /** Called for every answer the arbiter gives: the session learns what it now holds. */
  onAnswer?: (expectation: Expectation, reply: Fields | undefined, code: ErrorCodeName | undefined) => void;
}

export interface Unit {
  bytes: Uint8Array;
  frame: number;
}

export type WriteStyle = "one-write" | "per-frame" | "tiny";

interface Problem {
  frame: number;
  kind: string;
  detail: string;
}

export class FuzzLink {
  private readonly inOrder: Expectation[] = [];
  private orderHead = 0;
  private readonly waits = new Map<number, Expectation[]>();
  /** A wake given an error that may have been an earlier one-way wake's (see `match`). */
  private standby: Expectation | undefined;
  private readonly received = new WireSplitter();
  private outbox: Outbox | undefined;
  private socket: Socket<undefined> | undefined;
  /** The arbiter sent the error (or bye reply) after which it closes. */
  private closingSeen = false;
  private closingSeenAt = 0;
  peerClosed = false;
  /** Fully closed (a half-open socket may still write after the arbiter's end-of-file). */
  private socketClosed = false;
  private endedByUs = false;
  failed = false;
  private wake: (() => void) | undefined;

  constructor(
    readonly model: ConnectionModel,
    private readonly options: LinkOptions,
  ) {}

  /** `halfOpen`: keep the socket writable after the arbiter's end-of-file (to write on regardless). */
  async open(halfOpen = false): Promise<void> {
    const closed = () => {
      this.socketClosed = true;
      this.peerGone();
    };
    this.socket = await Bun.connect({
      unix: this.options.socketPath,
      allowHalfOpen: halfOpen,
      socket: {
        data: (_socket, bytes) => this.receive(bytes),
        drain: () => this.outbox?.flush(),
        end: () => this.peerGone(),
        close: closed,
        error: closed,
      },
    });
    this.outbox = new Outbox(this.socket, 256 << 20);
  }

  /** Whether the connection can still carry requests (no fatal error, no violation, not closed). */
  get usable(): boolean {
    if (this.failed || this.endedByUs || this.peerClosed || this.closingSeen) return false;
    return this.model.phase !== "closing";
  }

  async send(units: Unit[], style: WriteStyle): Promise<void> {
    // Expected before the first byte goes out: an answer may come while the rest is still being written.
    const expected: Expectation[] = [];
    for (const unit of units)
      for (const expectation of this.model.feed(unit.bytes, unit.frame)) {
        expectation.sentAt = performance.now();
        expected.push(expectation);
        if (expectation.mode === "wait") listOf(this.waits, expectation.requestId).push(expectation);
        else this.inOrder.push(expectation);
      }
    for (const unit of units) this.options.stats.bytes += unit.bytes.byteLength;
    if (style === "one-write") this.write(concat(units.map((unit) => unit.bytes)));
    else if (style === "per-frame") for (const unit of units) this.write(unit.bytes);
    else {
      await this.writeTiny(concat(units.map((unit) => unit.bytes)));
      // The liveness bound runs from the last byte: a tiny batch of 60 KB took 18–19 s to write on a loaded
      // machine (its sleeps stretched), and was judged a stall the moment it was out.
      const written = performance.now();
      for (const expectation of expected) expectation.sentAt = written;
    }
  }

  /**
   * Writes up to `total` bytes of zeros as fast as the socket takes them, for at most `ms`, whatever the
   * arbiter answered or closed meanwhile; returns how many it wrote.
   */
  async flood(total: number, ms: number): Promise<number> {
    const chunk = new Uint8Array(1 << 20);
    const deadline = performance.now() + ms;
    let written = 0;
    while (this.socket && !this.socketClosed && written < total && performance.now() < deadline) {
      const taken = this.socket.write(chunk);
      if (taken > 0) written += taken;
      if (taken < chunk.byteLength) await Bun.sleep(1);
    }
    this.options.stats.bytes += written;
    return written;
  }

  /** Waits until everything due has been answered (or the connection closed as it had to). */
  async settle(): Promise<void> {
    while (!this.failed && !this.settled()) {
      const deadline = this.nextDeadline();
      const now = performance.now();
      if (deadline <= now) {
        this.stalled();
        return;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(deadline - now, 1000) + 1);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  end(): void {
    this.endedByUs = true;
    this.socket?.end();
  }

  private settled(): boolean {
    if (this.closingSeen || this.peerClosed) return this.peerClosed;
    if (this.firstRequired()) return false;
    for (const list of this.waits.values()) if (list.some((wait) => wait.parkMs !== undefined)) return false;
    return true;
  }

  private firstRequired(): Expectation | undefined {
    return this.inOrder[this.requiredIndex(this.orderHead)];
  }

  private nextDeadline(): number {
    const { livenessMs } = this.options;
    let deadline = Number.POSITIVE_INFINITY;
    const head = this.firstRequired();
    if (head) deadline = head.sentAt + livenessMs;
    for (const list of this.waits.values())
      for (const wait of list)
        if (wait.parkMs !== undefined) deadline = Math.min(deadline, wait.sentAt + wait.parkMs + livenessMs);
    // Once the closing error is in, end-of-file is due within the bound (the arbiter half-closes at once
    // when its last frame is out, and ends the socket after its 2 s grace at the latest).
    if (this.closingSeen) return this.closingSeenAt + livenessMs;
    return Number.isFinite(deadline) ? deadline : performance.now() + livenessMs;
  }

  private stalled(): void {
    const head = this.firstRequired() ?? [...this.waits.values()].flat()[0];
    const what = head
      ? `no answer to ${describe(head)} within ${this.options.livenessMs} ms`
      : `no end-of-file within ${this.options.livenessMs} ms of the error that closes the connection`;
    this.violate(head?.frame ?? 0, "stall", what);
  }

  private write(bytes: Uint8Array): void {
    if (this.peerClosed) return;
    try {
      this.outbox?.send(bytes);
    } catch {
      // The arbiter is gone from this socket; the close handler judges whether that was allowed.
    }
  }

  /** Frames split across many writes of 1 to 8 bytes, yielding so the arbiter reads them piecemeal. */
  private async writeTiny(bytes: Uint8Array): Promise<void> {
    for (let at = 0, chunk = 0; at < bytes.byteLength; chunk++) {
      const size = 1 + ((at * 7 + chunk) % 8);
      this.write(bytes.subarray(at, at + size));
      at += size;
      if (chunk % 16 === 15) await Bun.sleep(1);
    }
  }

  private receive(bytes: Uint8Array): void {
    if (this.failed) return;
    this.received.push(bytes);
    for (let parsed = this.received.next(); parsed && !this.failed; parsed = this.received.next()) {
      const problem =
        "problem" in parsed
          ? { frame: 0, kind: "undecodable", detail: `an answer whose header is bad: ${parsed.problem}` }
          : this.answer(parsed.frame);
      if (problem) this.violate(problem.frame, problem.kind, problem.detail);
    }
    this.wake?.();
  }

  private answer(frame: WireFrame): Problem | undefined {
    if (frame.kind === 0)
      return { frame: 0, kind: "unexpected", detail: `the arbiter sent a request (op ${frame.op})` };
    if (this.closingSeen)
      return { frame: 0, kind: "after-close", detail: `${frameText(frame)} after the closing error` };
    const expectation = this.match(frame);
    if (!expectation)
      return { frame: 0, kind: "unexpected", detail: `${frameText(frame)} while ${this.dueText()} was due` };
    return frame.kind === 2 ? this.judgeError(expectation, frame) : this.judgeReply(expectation, frame);
  }

  /**
   * Answers come in request order, except waits. A one-way wake that drew no error is passed over, and so
   * is one whose (op, request id) a later frame shares when the answer is not an error the wake may get;
   * a parked wait likewise takes only an answer it may get.
   *
   * Two wakes may share a request id (a mutation repeats ids), the first one-way. With nothing between
   * them that must be answered, an error both may get does not say whose it is: the one-way wake's (and
   * the other's answer is still to come), or the other's (the one-way wake worked, unanswered). It is
   * taken as the later wake's, which is then kept on `standby`: if the next answer is one more for that
   * (op, request id), the first was the one-way wake's and this one is the later wake's.
   */
  private match(frame: WireFrame): Expectation | undefined {
    const code = frame.kind === 2 ? errorCodeOf(frame) : undefined;
    const same = (expectation: Expectation) =>
      expectation.op === frame.op &&
      expectation.requestId === frame.requestId &&
      (expectation.mode !== "optional" || (code !== undefined && expectation.codes.includes(code)));
    const head = this.firstRequired();
    if (frame.op === WAIT_OP && !(head && same(head))) {
      const parked = this.waits.get(frame.requestId) ?? [];
      const may = (wait: Expectation) => (code === undefined ? wait.reply : wait.codes.includes(code));
      // Two waits may share a request id (a mutation repeats ids): give the answer to one it fits, first
      // to one that cannot be parked (timeout 0), whose answer is due at once.
      const fits = (wait: Expectation) => may(wait) && (code !== undefined || this.couldTake(wait, frame));
      const immediate = parked.findIndex((wait) => wait.parkMs === 0 && fits(wait));
      const index = [immediate, parked.findIndex(fits), parked.findIndex(may)].find((at) => at >= 0) ?? -1;
      const [taken] = index >= 0 ? parked.splice(index, 1) : [];
      if (parked.length === 0) this.waits.delete(frame.requestId);
      if (taken) return taken;
    }
    const standby = this.standby;
    this.standby = undefined;
    let index = this.inOrderIndex(same);
    if (index < 0) return standby && sameRequest(standby, frame) ? standby : undefined;
    if (this.inOrder[index]!.mode === "optional") {
      const later = this.requiredIndex(index + 1);
      const other = this.inOrder[later];
      if (other && sameRequest(other, frame) && code !== undefined && other.codes.includes(code)) {
        index = later;
        this.standby = other;
      }
    }
    const taken = this.inOrder[index]!;
    // Three wakes of one id or more: while they are answered, one more answer may still come, the last's.
    if (standby && taken.mode !== "optional" && sameRequest(standby, taken)) this.standby = taken;
    this.orderHead = index + 1;
    if (this.orderHead > 4096) {
      this.inOrder.splice(0, this.orderHead);
      this.orderHead = 0;
    }
    return taken;
  }

  /** The in-order expectation `fits` takes: optional ones it does not are passed over, a required one ends. */
  private inOrderIndex(fits: (expectation: Expectation) => boolean): number {
    for (let index = this.orderHead; index < this.inOrder.length; index++) {
      const next = this.inOrder[index]!;
      if (fits(next)) return index;
      if (next.mode !== "optional") return -1;
    }
    return -1;
  }

  /** The first in-order expectation from `from` on that must be answered (-1: none). */
  private requiredIndex(from: number): number {
    for (let index = from; index < this.inOrder.length; index++)
      if (this.inOrder[index]!.mode !== "optional") return index;
    return -1;
  }

  /** Whether `frame` (a reply) passes `expectation`'s check. */
  private couldTake(expectation: Expectation, frame: WireFrame): boolean {
    if (!expectation.reply || !expectation.name) return false;
    const body = readBody(messages[expectation.name].reply, frame.body);
    return !("problem" in body) && expectation.check?.(body.fields) === undefined;
  }

  private judgeError(expectation: Expectation, frame: WireFrame): Problem | undefined {
    const problem = (kind: string, detail: string) => ({ frame: expectation.frame, kind, detail });
    const body = readBody(errorBody, frame.body);
    if ("problem" in body) return problem("undecodable", `an error body: ${body.problem}`);
    const code = errorCodeName(body.fields.code as number);
    const message = body.fields.message as string;
    this.options.stats.outcome(code ?? `code ${body.fields.code}`);
    if (!code || code === "Internal")
      return problem("internal", `${describe(expectation)} got ${code}: ${message}`);
    if (!HOUSE_STYLE.test(message))
      return problem("message", `${code} is not "Failed to X since Y": ${message}`);
    if (code !== "LeaseExpired" && !expectation.codes.includes(code))
      return problem("wrong-error", `${describe(expectation)} got ${code}: ${message}`);
    if (FATAL_CODES.has(code)) this.closeDue();
    this.options.onAnswer?.(expectation, undefined, code);
    return undefined;
  }

  private judgeReply(expectation: Expectation, frame: WireFrame): Problem | undefined {
    const problem = (kind: string, detail: string) => ({ frame: expectation.frame, kind, detail });
    const name = expectation.name!;
    this.options.stats.outcome(`${name} ok`);
    if (!expectation.reply) return problem("wrong-reply", `${describe(expectation)} got a reply`);
    const body = readBody(messages[name].reply, frame.body);
    if ("problem" in body) return problem("undecodable", `a ${name} reply: ${body.problem}`);
    const wrong = expectation.check?.(body.fields);
    if (wrong) return problem("wrong-reply", `${describe(expectation)}: ${wrong}`);
    if (expectation.closes) this.closeDue();
    this.options.onAnswer?.(expectation, body.fields, undefined);
    return undefined;
  }

  private closeDue(): void {
    this.closingSeen = true;
    this.closingSeenAt = performance.now();
    this.model.closed();
  }

  private peerGone(): void {
    if (this.peerClosed) return;
    this.peerClosed = true;
    this.wake?.();
    if (this.endedByUs || this.closingSeen || this.failed) return;
    const due = this.firstRequired();
    this.violate(
      due?.frame ?? 0,
      "closed",
      `the arbiter closed the connection with no error${due ? ` (${describe(due)} was due)` : ""}`,
    );
  }

  private violate(frame: number, kind: string, detail: string): void {
    if (this.failed) return;
    this.failed = true;
    this.options.stats.violate(this.options.connection, frame, kind, detail);
    this.wake?.();
    this.end();
  }

  private dueText(): string {
    const head = this.firstRequired();
    return head ? describe(head) : "nothing";
  }
}

function sameRequest(a: { op: number; requestId: number }, b: { op: number; requestId: number }): boolean {
  return a.op === b.op && a.requestId === b.requestId;
}

/** The code of an error frame, if its body decodes (`judgeError` reports one that does not). */
function errorCodeOf(frame: WireFrame): ErrorCodeName | undefined {
  const body = readBody(errorBody, frame.body);
  return "problem" in body ? undefined : errorCodeName(body.fields.code as number);
}

function describe(expectation: Expectation): string {
  const name = expectation.name ?? `op ${expectation.op}`;
  const answers = [...expectation.codes, ...(expectation.reply ? ["a reply"] : [])].join(" or ");
  return `${name} id ${expectation.requestId} (frame ${expectation.frame}, ${expectation.mode}: ${answers || "nothing"})`;
}

function frameText(frame: WireFrame): string {
  return `${frame.kind === 2 ? "an error" : "a reply"} for ${opName(frame.op) ?? `op ${frame.op}`} id ${frame.requestId}`;
}

function listOf<K, V>(map: Map<K, V[]>, key: K): V[] {
  const existing = map.get(key);
  if (existing) return existing;
  const created: V[] = [];
  map.set(key, created);
  return created;
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const total = parts.reduce((sum, part) => sum + part.byteLength, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}
