/**
 * Malformed input to a live arbiter: each bad connection gets an error reply naming the problem and is
 * closed, while a well-behaved client on another connection keeps being served throughout.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import type { ErrorCodeName } from "../src/errors.ts";
import { type Client, connect } from "../src/guest/index.ts";
import { decodeError, decodeFields, encodeFrame } from "../src/protocol/codec.ts";
import { FrameKind, messages, PROTOCOL_VERSION, WIRE_MAGIC } from "../src/protocol/messages.ts";
import type { StatusReport } from "../src/protocol/status-report.ts";
import { expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { exchangeRaw } from "./helpers/raw.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let good: Client;

beforeAll(async () => {
  paths = testPaths("malformed");
  arbiter = await ArbiterProcess.start(paths);
  good = await connect({ socket: paths.socket, region: paths.region, name: "well-behaved" });
  await good.alloc(65536, { name: "before" });
});
beforeEach(() => arbiter.revive());

afterAll(async () => {
  await good?.close();
  await arbiter?.stop();
  paths?.cleanup();
});

function request(
  name: keyof typeof messages,
  fields: Record<string, number | string>,
  requestId = 1,
): Uint8Array {
  const message = messages[name];
  return encodeFrame(FrameKind.request, message.op, requestId, message.request, fields);
}

function hello(version = PROTOCOL_VERSION): Uint8Array {
  return request("hello", { magic: WIRE_MAGIC, version, clientName: "raw", pid: 1, sessionToken: "" });
}

function rawFrame(length: number, op: number, body: number[] = []): Uint8Array {
  const bytes = new Uint8Array(12 + body.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, length, true);
  view.setUint16(4, op, true);
  view.setUint32(8, 5, true);
  bytes.set(body, 12);
  return bytes;
}

const cases: [string, () => Uint8Array[], ErrorCodeName, RegExp][] = [
  ["a truncated body", () => [hello(), rawFrame(15, messages.alloc.op, [1, 2, 3])], "BadFrame", /truncated/],
  [
    "an oversized length",
    () => [hello(), rawFrame(0x7fffffff, messages.alloc.op)],
    "BadFrame",
    /length field says 2147483647/,
  ],
  ["an unknown op", () => [hello(), rawFrame(12, 999)], "UnknownOp", /op 999/],
  // Said for the client's user (an older client shows the arbiter's words as they are): which side to upgrade.
  [
    "a wrong protocol version",
    () => [hello(42)],
    "VersionMismatch",
    /version 42 .*\(the client runs a newer ivsh: upgrade the arbiter and restart it, or run the arbiter's release on the client's side\)$/,
  ],
  // An older client's hello is laid out as its version had it: read as this version's, its fields are wrong.
  [
    "an older protocol version",
    () => [hello(PROTOCOL_VERSION - 1)],
    "VersionMismatch",
    new RegExp(
      `version ${PROTOCOL_VERSION - 1} and this arbiter speaks ${PROTOCOL_VERSION} ` +
        "\\(the client runs an older ivsh: upgrade it, or run the arbiter's release on its side\\)$",
    ),
  ],
  [
    "a request before hello",
    () => [request("alloc", { bytes: 10, blocks: 0, mode: 2, name: "" })],
    "ProtocolState",
    /must be hello/,
  ],
  [
    "garbage bytes",
    () => [Uint8Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff)],
    "BadFrame",
    /length field/,
  ],
  [
    "a reply frame from a client",
    () => [hello(), encodeFrame(FrameKind.reply, messages.heartbeat.op, 2, {}, {})],
    "BadFrame",
    /not replies/,
  ],
  [
    "identify as 'host', the name of the host's own processes",
    () => [request("identify", { vm: "host" }, 1)],
    "ProtocolState",
    /'host' is not a VM name .*other than 'host'/,
  ],
  [
    "identify after hello",
    () => [hello(), request("identify", { vm: "evil" }, 2)],
    "ProtocolState",
    /already said hello/,
  ],
  // docs/protocol.md section 2: handover only before hello and identify; an unknown op in any phase.
  [
    "handover after hello",
    () => [hello(), request("handover", { nonce: "n" }, 2)],
    "ProtocolState",
    /already said hello/,
  ],
  [
    "handover after identify (a guest's connection)",
    () => [request("identify", { vm: "web" }, 0), request("handover", { nonce: "n" }, 1)],
    "ProtocolState",
    /a guest's connection cannot hand a connection over/,
  ],
  ["an unknown op before hello", () => [rawFrame(12, 999)], "UnknownOp", /op 999/],
];

describe("malformed frames", () => {
  for (const [label, build, code, message] of cases)
    test(`${label}: error reply, connection closed, others unaffected`, async () => {
      const { frames, closed } = await exchangeRaw(paths.socket, build());
      const errors = frames
        .filter((frame) => frame.kind === FrameKind.error)
        .map((frame) => decodeError(frame.body));
      expect(errors.length).toBe(1);
      expect(errors[0]!.code).toBe(code);
      expect(errors[0]!.message).toMatch(message);
      expect(closed).toBe(true);
      const segment = await good.alloc(4096);
      segment.bytes[0] = 1;
      await segment.free();
    });

  test("the arbiter is still serving and the raw sessions left nothing behind", async () => {
    expect(arbiter.spawned.proc.exitCode).toBeNull();
    const status = await good.status();
    expect(status.clients.map((client) => client.name)).toEqual(["well-behaved"]);
    expect(status.segments.map((segment) => segment.name)).toEqual(["before"]);
  });

  test("a request that cannot be granted keeps the connection", async () => {
    await expectRejection(good.open("no-such-segment"), "NotFound", /no segment has that name/);
    await expectRejection(good.alloc(1 << 30), "NoSpace", /needs 16384 blocks/);
    const segment = await good.alloc(4096);
    await segment.free();
  });
});

test("a status before hello is answered without a session; any other request still needs hello", async () => {
  const { frames, closed } = await exchangeRaw(paths.socket, [
    request("status", { limit: 10, onlyClient: 0 }),
    request("alloc", { bytes: 10, blocks: 0, mode: 2, name: "" }, 2),
  ]);
  const [answer, refusal] = frames;
  expect(answer?.kind).toBe(FrameKind.reply);
  const { json } = decodeFields(messages.status.reply, answer!.body, "the status reply");
  const report = JSON.parse(String(json)) as StatusReport;
  expect(report.requester.clientId).toBe(0);
  expect(report.clients.map((client) => client.name)).toEqual(["well-behaved"]);
  expect(refusal?.kind).toBe(FrameKind.error);
  expect(decodeError(refusal!.body).message).toMatch(/must be hello \(or a status/);
  expect(closed).toBe(true);
});

// docs/protocol.md said a handover is accepted only as a connection's first request; a status may come first.
test("a handover after a status is judged by its nonce, not refused for coming second", async () => {
  const { frames, closed } = await exchangeRaw(paths.socket, [
    request("status", { limit: 0, onlyClient: 0 }),
    request("handover", { nonce: "nobody-sent-this" }, 2),
  ]);
  expect(frames.map((frame) => frame.kind)).toEqual([FrameKind.reply, FrameKind.error]);
  expect(decodeError(frames[1]!.body).message).toMatch(/nothing was handed over under that nonce/);
  expect(closed).toBe(true);
});

test("a status with an empty body (a client older than its fields) is answered, with the default fields", async () => {
  const { frames } = await exchangeRaw(paths.socket, [rawFrame(12, messages.status.op)], 1000);
  const [answer] = frames;
  expect(answer?.kind).toBe(FrameKind.reply);
  const { json } = decodeFields(messages.status.reply, answer!.body, "the status reply");
  const report = JSON.parse(String(json)) as StatusReport;
  expect(report.clients.map((client) => client.name)).toEqual(["well-behaved"]);
});

describe("a connection that never says hello", () => {
  test("is answered ProtocolState and closed after --hello-wait, and nothing else is disturbed", async () => {
    const quiet = testPaths("hello-wait");
    const waiting = await ArbiterProcess.start(quiet, { extra: ["--hello-wait", "300ms"] });
    try {
      // Half a frame header, then silence: the arbiter must not keep it for ever.
      const { frames, closed } = await exchangeRaw(quiet.socket, [new Uint8Array([12, 0, 0])], 20_000);
      expect(closed).toBe(true);
      expect(frames.map((frame) => decodeError(frame.body).code)).toEqual(["ProtocolState"]);
      const client = await connect({ socket: quiet.socket, region: quiet.region, name: "after" });
      await client.close();
    } finally {
      await waiting.stop();
      quiet.cleanup();
    }
  });
});
