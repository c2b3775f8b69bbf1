import { describe, expect, test } from "bun:test";
import {
  ErrorCode,
  type ErrorCodeName,
  type ErrorTrait,
  failure,
  hasTrait,
  isIvshError,
} from "../src/errors.ts";
import {
  decodeError,
  decodeFields,
  encodeErrorFrame,
  encodeFrame,
  FrameDecoder,
} from "../src/protocol/codec.ts";
import {
  type FieldType,
  FRAME_HEADER_BYTES,
  FrameKind,
  MAX_FRAME_BYTES,
  type MessageName,
  messageNameOf,
  messages,
  type Schema,
} from "../src/protocol/messages.ts";

const samples: Record<FieldType, number | string> = {
  u8: 200,
  u16: 60_000,
  u32: 4_000_000_000,
  i32: -123_456,
  u64: 2 ** 40 + 3,
  str: "seg-näme ✓",
  text: JSON.stringify({ big: "x".repeat(70_000) }),
};

function sampleFields(schema: Schema): Record<string, number | string> {
  return Object.fromEntries(Object.entries(schema).map(([key, type]) => [key, samples[type]]));
}

function decodeOne(bytes: Uint8Array) {
  const decoder = new FrameDecoder();
  decoder.push(bytes);
  const frame = decoder.next();
  expect(decoder.pendingBytes).toBe(0);
  return frame!;
}

describe("codec round trips", () => {
  const names = Object.keys(messages) as MessageName[];
  for (const name of names) {
    for (const direction of ["request", "reply"] as const) {
      test(`${name} ${direction}`, () => {
        const schema = messages[name][direction];
        const fields = sampleFields(schema);
        const kind = direction === "request" ? FrameKind.request : FrameKind.reply;
        const frame = decodeOne(encodeFrame(kind, messages[name].op, 0xfeedbeef, schema, fields));
        expect(frame.op).toBe(messages[name].op);
        expect(frame.kind).toBe(kind);
        expect(frame.requestId).toBe(0xfeedbeef);
        expect(messageNameOf(frame.op)).toBe(name);
        expect(decodeFields(schema, frame.body, name)).toEqual(fields as never);
      });
    }
  }

  test("error frames carry code and message", () => {
    const sent = failure(
      "PermissionDenied",
      "open segment 'x' write",
      "another client holds it write-exclusive",
    );
    const frame = decodeOne(encodeErrorFrame(messages.open.op, 7, sent));
    expect(frame.kind).toBe(FrameKind.error);
    const received = decodeError(frame.body);
    expect(received.code).toBe("PermissionDenied");
    expect(received.message).toBe(sent.message);
  });
});

describe("frame decoder", () => {
  const hello = encodeFrame(
    FrameKind.request,
    1,
    1,
    messages.hello.request,
    sampleFields(messages.hello.request),
  );
  const wake = encodeFrame(FrameKind.request, 9, 2, messages.wake.request, {
    slot: 3,
    word: 1,
    count: 1,
    reply: 0,
  });

  test("reassembles frames delivered one byte at a time", () => {
    const decoder = new FrameDecoder();
    const stream = Buffer.concat([hello, wake]);
    const seen: number[] = [];
    for (const byte of stream) {
      decoder.push(Uint8Array.of(byte));
      for (let frame = decoder.next(); frame; frame = decoder.next()) seen.push(frame.requestId);
    }
    expect(seen).toEqual([1, 2]);
  });

  test("splits several frames from one chunk and keeps a partial one", () => {
    const decoder = new FrameDecoder();
    decoder.push(Buffer.concat([hello, wake, wake.subarray(0, 5)]));
    expect(decoder.next()?.requestId).toBe(1);
    expect(decoder.next()?.requestId).toBe(2);
    expect(decoder.next()).toBeUndefined();
    expect(decoder.pendingBytes).toBe(5);
  });

  test("grows for a frame larger than its initial buffer", () => {
    const status = encodeFrame(FrameKind.reply, 11, 3, messages.status.reply, { json: "y".repeat(500_000) });
    const frame = decodeOne(status);
    expect(decodeFields(messages.status.reply, frame.body, "status").json.length).toBe(500_000);
  });

  const malformed: [string, Uint8Array, RegExp][] = [
    ["a length below the header size", header(4, 1, 0), /length field says 4/],
    ["a length above the limit", header(MAX_FRAME_BYTES + 1, 1, 0), /length field says 1048577/],
    ["a length of 4 GiB - 1", header(0xffffffff, 1, 0), /length field says 4294967295/],
    ["an unknown frame kind", header(FRAME_HEADER_BYTES, 1, 7), /kind 7/],
  ];
  for (const [label, bytes, message] of malformed)
    test(`rejects ${label} as soon as the header arrives`, () => {
      const decoder = new FrameDecoder();
      decoder.push(bytes);
      expect(() => decoder.next()).toThrow(message);
    });
});

describe("field decoding", () => {
  test("a truncated body is a BadFrame", () => {
    const body = Uint8Array.of(1, 0, 0);
    expectCode(() => decodeFields(messages.free.request, body, "free"), "BadFrame");
  });
  test("trailing bytes are a BadFrame", () => {
    const body = Uint8Array.of(1, 0, 0, 0, 9);
    expectCode(() => decodeFields(messages.free.request, body, "free"), "BadFrame");
  });
  test("a string longer than its body is a BadFrame", () => {
    const body = Uint8Array.of(200, 0, 65, 66);
    expectCode(() => decodeFields(messages.open.request, body, "open"), "BadFrame");
  });
  test("out-of-range values are refused when encoding", () => {
    expectCode(() => encodeFrame(0, 5, 1, messages.free.request, { segmentId: -1 }), "InvalidArgument");
    expectCode(
      () => encodeFrame(0, 8, 1, messages.wait.request, { slot: 1, word: 256, expected: 0, timeoutMs: 0 }),
      "InvalidArgument",
    );
  });
});

function header(length: number, op: number, kind: number): Uint8Array {
  const bytes = new Uint8Array(FRAME_HEADER_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, length, true);
  view.setUint16(4, op, true);
  view.setUint8(6, kind);
  return bytes;
}

function expectCode(run: () => unknown, code: string): void {
  try {
    run();
  } catch (error) {
    expect(isIvshError(error) ? error.code : String(error)).toBe(code);
    return;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

describe("error traits: how each part treats a code, kept beside the codes", () => {
  const trait = (code: ErrorCodeName, name: ErrorTrait) => hasTrait(failure(code, "test", "a test"), name);

  test("only a code's own traits answer true; anything not an IvshError has none", () => {
    expect(trait("BadFrame", "endsConnection")).toBe(true);
    expect(trait("InvalidArgument", "endsConnection")).toBe(false);
    expect(trait("LeaseExpired", "endsSession")).toBe(true);
    expect(trait("ConnectionLost", "endsSession")).toBe(false);
    expect(trait("ConnectionLost", "whileRestarting")).toBe(true);
    expect(trait("NotFound", "routine")).toBe(true);
    expect(trait("PermissionDenied", "routine")).toBe(false);
    expect(hasTrait(new Error("LeaseExpired"), "endsSession")).toBe(false);
  });

  test("a session that is gone ends the connection, resuming, and makes releases harmless", () => {
    for (const code of Object.keys(ErrorCode) as ErrorCodeName[])
      if (trait(code, "endsSession")) {
        expect(trait(code, "endsConnection")).toBe(true);
        expect(trait(code, "endsResume")).toBe(true);
        expect(trait(code, "harmlessOnRelease")).toBe(true);
      }
  });
});
