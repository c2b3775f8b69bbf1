/**
 * The fuzzer's checks can fail: fake arbiters that break one rule each (silence, Internal, a close without
 * an error, an answer that does not decode, answers out of order, no close after a fatal error, a wrong
 * error code) are each reported as a violation, while a fake that follows the protocol is not.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Socket } from "bun";
import { ErrorCode, type ErrorCodeName } from "../src/errors.ts";
import { encodeFrame, type Frame, FrameDecoder } from "../src/protocol/codec.ts";
import { errorBody, FrameKind, messages, PROTOCOL_VERSION, WIRE_MAGIC } from "../src/protocol/messages.ts";
import { HonestRounds } from "./fuzz/honest.ts";
import { FuzzLink } from "./fuzz/link.ts";
import { ConnectionModel } from "./fuzz/model.ts";
import { FuzzStats } from "./fuzz/report.ts";

type Answer = (frame: Frame, socket: Socket<FrameDecoder>) => void;

const geometry = { blockSize: 65_536, blockCount: 100, slotCount: 64 };
const LEASE_MS = 5000;
let cleanup: (() => void) | undefined;

afterEach(() => cleanup?.());

function helloReply(requestId: number): Uint8Array {
  const { op, reply } = messages.hello;
  return encodeFrame(FrameKind.reply, op, requestId, reply, {
    clientId: 1,
    epoch: 1,
    sessionToken: "0123456789abcdef0123456789abcdef",
    leaseMs: LEASE_MS,
    resumed: 0,
    vm: "host",
    regionSize: 8 << 20,
    ...geometry,
    dataOffset: 4096,
    arbiterPid: 4242,
    arbiterInstance: 4242,
  });
}

const heartbeatReply = (requestId: number) =>
  encodeFrame(FrameKind.reply, messages.heartbeat.op, requestId, messages.heartbeat.reply, {
    leaseMs: LEASE_MS,
  });

const errorFrame = (frame: Frame, code: ErrorCodeName) =>
  encodeFrame(FrameKind.error, frame.op, frame.requestId, errorBody, {
    code: ErrorCode[code],
    message: "Failed to do it since a test says so",
  });

/** The next frame; a header no reader accepts comes out as op 0, request id 0 (what its error echoes). */
function nextFrame(decoder: FrameDecoder): Frame | undefined {
  try {
    return decoder.next();
  } catch {
    decoder.drain();
    return { op: 0, requestId: 0, kind: FrameKind.request, body: new Uint8Array(0) };
  }
}

/** A fake arbiter that greets properly and answers every later frame with `answer`. */
function fakeArbiter(answer: Answer): string {
  const dir = mkdtempSync("/tmp/ivsh-fuzz-checks-");
  const path = join(dir, "fake.sock");
  const server = Bun.listen<FrameDecoder>({
    unix: path,
    socket: {
      open(socket) {
        socket.data = new FrameDecoder();
      },
      data(socket, bytes) {
        socket.data.push(bytes);
        for (let frame = nextFrame(socket.data); frame; frame = nextFrame(socket.data))
          if (frame.op === messages.hello.op) socket.write(helloReply(frame.requestId));
          else answer(frame, socket);
      },
    },
  });
  cleanup = () => {
    server.stop(true);
    rmSync(dir, { recursive: true, force: true });
  };
  return path;
}

function request(
  name: keyof typeof messages,
  requestId: number,
  fields: Record<string, number | string> = {},
) {
  const { op, request: schema } = messages[name];
  return encodeFrame(FrameKind.request, op, requestId, schema, fields);
}

/** Runs hello plus `frames` through the fuzzer's link against the fake; returns the violation kinds. */
async function violationsAgainst(answer: Answer, frames: Uint8Array[], livenessMs = 1000): Promise<string[]> {
  const socketPath = fakeArbiter(answer);
  const stats = new FuzzStats(1);
  const model = new ConnectionModel({ geometry, leaseMs: LEASE_MS, isKnownToken: () => false });
  const link = new FuzzLink(model, { socketPath, connection: 0, stats, livenessMs });
  await link.open();
  const greeting = request("hello", 1, {
    magic: WIRE_MAGIC,
    version: PROTOCOL_VERSION,
    clientName: "checks",
    pid: 1,
    sessionToken: "",
  });
  const units = [greeting, ...frames].map((bytes, index) => ({ bytes, frame: index + 1 }));
  await link.send(units, "one-write");
  await link.settle();
  link.end();
  return stats.violations.map((violation) => violation.kind);
}

const kindSeven = () => {
  const bytes = request("heartbeat", 2);
  bytes[6] = 7;
  return bytes;
};

describe("the fuzzer's checks", () => {
  test("a fake that follows the protocol passes", async () => {
    const answer: Answer = (frame, socket) => socket.write(heartbeatReply(frame.requestId));
    expect(
      await violationsAgainst(answer, [request("heartbeat", 2), request("heartbeat", 3)], 20_000),
    ).toEqual([]);
  });

  test("no answer is a stall", async () => {
    expect(await violationsAgainst(() => {}, [request("heartbeat", 2)])).toEqual(["stall"]);
  });

  test("an Internal error is a violation", async () => {
    const answer: Answer = (frame, socket) => socket.write(errorFrame(frame, "Internal"));
    expect(await violationsAgainst(answer, [request("heartbeat", 2)])).toEqual(["internal"]);
  });

  test("a close without an error is a violation", async () => {
    expect(await violationsAgainst((_frame, socket) => socket.end(), [request("heartbeat", 2)])).toEqual([
      "closed",
    ]);
  });

  test("a reply that does not decode is a violation", async () => {
    const answer: Answer = (frame, socket) =>
      socket.write(
        encodeFrame(FrameKind.reply, frame.op, frame.requestId, { leaseMs: "u8" }, { leaseMs: 1 }),
      );
    expect(await violationsAgainst(answer, [request("heartbeat", 2)])).toEqual(["undecodable"]);
  });

  test("answers out of request order are a violation", async () => {
    const held: Frame[] = [];
    const answer: Answer = (frame, socket) => {
      held.push(frame);
      if (held.length === 2) for (const late of held.reverse()) socket.write(heartbeatReply(late.requestId));
    };
    expect(await violationsAgainst(answer, [request("heartbeat", 2), request("heartbeat", 3)])).toEqual([
      "unexpected",
    ]);
  });

  test("a fatal error without a close is a stall", async () => {
    const answer: Answer = (frame, socket) => socket.write(errorFrame(frame, "BadFrame"));
    expect(await violationsAgainst(answer, [kindSeven()])).toEqual(["stall"]);
  });

  test("an error code the request cannot get is a violation", async () => {
    const answer: Answer = (frame, socket) => socket.write(errorFrame(frame, "NotFound"));
    expect(await violationsAgainst(answer, [request("heartbeat", 2)])).toEqual(["wrong-error"]);
  });

  test("a closing error is not taken for the answer to a silent wake with the same request id", async () => {
    const wake = request("wake", 5, { slot: 1, word: 0, count: 1, reply: 0 });
    const malformed = new Uint8Array(wake.byteLength + 3); // the same wake with 3 bytes too many
    malformed.set(wake);
    new DataView(malformed.buffer).setUint32(0, malformed.byteLength, true);
    const answer: Answer = (frame, socket) => {
      if (frame.body.byteLength === wake.byteLength - 12) return; // a one-way wake that worked: silence
      socket.write(errorFrame(frame, "BadFrame"));
      socket.end();
    };
    expect(await violationsAgainst(answer, [wake, malformed], 20_000)).toEqual([]);
  });

  // Seed 9516, connection 3958, frames 268-272: two wakes with request id 2^32 - 1 (the id-max mutation),
  // the first one-way on a slot the session held (no answer), the second asking a reply on one it did not
  // (NotHeld). That NotHeld was taken for the one-way wake's, the second left due, and the next answer
  // (syncOpen id 258's InvalidArgument) called unexpected.
  describe("two wakes with one request id, the first one-way", () => {
    const ID_MAX = 0xffffffff;
    const frames = [
      request("wake", ID_MAX, { slot: 2, word: 2, count: 1, reply: 0 }),
      request("wait", 255, { slot: 2171, word: 1, expected: -1, timeoutMs: 4 }),
      request("wake", ID_MAX, { slot: 5, word: 1, count: 0x7fffffff, reply: 1 }),
      request("syncOpen", 258, { name: "fz-m2", kind: 0x7f, create: 2 }),
      request("heartbeat", 259),
    ];
    const wakeReply = (frame: Frame) =>
      encodeFrame(FrameKind.reply, frame.op, frame.requestId, messages.wake.reply, { woken: 0 });
    /** `oneWay` and `asking`: what the fake answers each wake (undefined: nothing). */
    const fake =
      (oneWay: "NotHeld" | undefined, asking: "NotHeld" | "reply"): Answer =>
      (frame, socket) => {
        if (frame.op === messages.wait.op || frame.op === messages.syncOpen.op)
          socket.write(errorFrame(frame, frame.op === messages.wait.op ? "NotHeld" : "InvalidArgument"));
        else if (frame.op === messages.heartbeat.op) socket.write(heartbeatReply(frame.requestId));
        else if (frame.body.at(-1) === 0) {
          if (oneWay) socket.write(errorFrame(frame, oneWay));
        } else socket.write(asking === "reply" ? wakeReply(frame) : errorFrame(frame, asking));
      };

    test("the one-way wake silent, the other refused: the refusal is the second's", async () => {
      expect(await violationsAgainst(fake(undefined, "NotHeld"), frames, 20_000)).toEqual([]);
    });

    test("both refused", async () => {
      expect(await violationsAgainst(fake("NotHeld", "NotHeld"), frames, 20_000)).toEqual([]);
    });

    test("the one-way wake refused, the other answered", async () => {
      expect(await violationsAgainst(fake("NotHeld", "reply"), frames, 20_000)).toEqual([]);
    });

    test("an answer to the second after a later request's is still out of order", async () => {
      let late: Frame | undefined;
      const lateSecond: Answer = (frame, socket) => {
        if (frame.op === messages.wake.op && frame.body.at(-1) !== 0) late = frame;
        else fake("NotHeld", "NotHeld")(frame, socket);
        if (frame.op === messages.syncOpen.op && late) socket.write(errorFrame(late, "NotHeld"));
      };
      expect(await violationsAgainst(lateSecond, frames)).toEqual(["unexpected"]);
    });
  });

  // Which of two same-id requests an answer is (link.ts's `match`), where getting it wrong is a false
  // violation: each case below names what took the answer wrongly.
  test("a one-way wake's refusal that the same-id wake after it cannot get is the one-way wake's", async () => {
    const frames = [
      request("wake", 9, { slot: 2, word: 2, count: 1, reply: 0 }), // NotHeld or InvalidArgument, or nothing
      request("wake", 9, { slot: 2, word: 2, count: 0, reply: 1 }), // InvalidArgument only
      request("heartbeat", 10),
    ];
    const answer: Answer = (frame, socket) => {
      if (frame.op === messages.heartbeat.op) socket.write(heartbeatReply(frame.requestId));
      else socket.write(errorFrame(frame, frame.body.at(-1) === 0 ? "NotHeld" : "InvalidArgument"));
    };
    expect(await violationsAgainst(answer, frames, 20_000)).toEqual([]);
  });

  test("three wakes with one request id, the first one-way, all refused: three answers, none unexpected", async () => {
    const frames = [
      request("wake", 11, { slot: 2, word: 2, count: 1, reply: 0 }),
      request("wake", 11, { slot: 3, word: 1, count: 1, reply: 1 }),
      request("wake", 11, { slot: 4, word: 1, count: 1, reply: 1 }),
      request("heartbeat", 12),
    ];
    const answer: Answer = (frame, socket) =>
      socket.write(
        frame.op === messages.heartbeat.op ? heartbeatReply(frame.requestId) : errorFrame(frame, "NotHeld"),
      );
    expect(await violationsAgainst(answer, frames, 20_000)).toEqual([]);
  });

  test("a refused wait answered at once is the due one, not a parked wait's of the same request id", async () => {
    const frames = [
      request("wait", 13, { slot: 2, word: 1, expected: 0, timeoutMs: 50 }), // parked: a reply, or NotHeld
      request("wait", 13, { slot: 2, word: 16, expected: 0, timeoutMs: 50 }), // no such word: refused
      request("heartbeat", 14),
    ];
    const answer: Answer = (frame, socket) => {
      if (frame.op === messages.heartbeat.op) return socket.write(heartbeatReply(frame.requestId));
      if (frame.body[4] === 16) return socket.write(errorFrame(frame, "NotHeld"));
      const timedOut = encodeFrame(FrameKind.reply, frame.op, frame.requestId, messages.wait.reply, {
        outcome: 2,
      });
      setTimeout(() => socket.write(timedOut), 50);
    };
    expect(await violationsAgainst(answer, frames, 20_000)).toEqual([]);
  });

  test("honest workers that cannot do their work are a violation", async () => {
    const stats = new FuzzStats(1);
    const dir = mkdtempSync("/tmp/ivsh-fuzz-checks-");
    cleanup = () => rmSync(dir, { recursive: true, force: true });
    const rounds = new HonestRounds({
      socket: join(dir, "none.sock"),
      region: join(dir, "none"),
      seed: 1,
      stats,
    });
    rounds.start();
    await rounds.stop();
    expect([rounds.passed, rounds.failed]).toEqual([0, 1]);
    expect(stats.violations.map((violation) => violation.kind)).toEqual(["honest"]);
  }, 60_000);
});
