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
  encodeFrameTransient,
  FrameDecoder,
  MAX_ERROR_MESSAGE_BYTES,
  shortenMessage,
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
import { Outbox } from "../src/protocol/outbox.ts";

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
    // The reserved byte is for a later version: a frame that sets it is not one this version can read.
    ["a reserved byte that is not 0", withReserved(header(FRAME_HEADER_BYTES, 1, 0), 1), /reserved byte 1/],
  ];
  for (const [label, bytes, message] of malformed)
    test(`rejects ${label} as soon as the header arrives`, () => {
      const decoder = new FrameDecoder();
      decoder.push(bytes);
      expectCode(() => decoder.next(), "BadFrame");
      expect(() => decoder.next()).toThrow(message);
    });
});

describe("frames without a copy (the arbiter's and the client's hot path)", () => {
  const wake = (requestId: number) =>
    encodeFrame(FrameKind.request, 9, requestId, messages.wake.request, {
      slot: 3,
      word: 1,
      count: 1,
      reply: 0,
    });

  test("nextInPlace's body is a view valid until the next push; next's body is the caller's own", () => {
    const decoder = new FrameDecoder();
    decoder.push(Buffer.concat([wake(1), wake(2)]));
    const borrowed = decoder.nextInPlace()!;
    const owned = decoder.next()!;
    expect(decodeFields(messages.wake.request, borrowed.body, "wake").slot).toBe(3);
    // Both frames consumed: the next push writes where the borrowed body was.
    decoder.push(
      encodeFrame(FrameKind.request, 9, 3, messages.wake.request, { slot: 99, word: 0, count: 7, reply: 1 }),
    );
    expect(decodeFields(messages.wake.request, owned.body, "wake")).toEqual({
      slot: 3,
      word: 1,
      count: 1,
      reply: 0,
    });
    expect(decodeFields(messages.wake.request, borrowed.body, "wake").slot).toBe(99);
  });

  test("a transient frame is overwritten by the next one; encodeFrame's are not", () => {
    const fields = (slot: number) => ({ slot, word: 0, count: 1, reply: 1 });
    const kept = encodeFrame(FrameKind.request, 9, 1, messages.wake.request, fields(1));
    const first = encodeFrameTransient(FrameKind.request, 9, 1, messages.wake.request, fields(1));
    expect(Buffer.from(first)).toEqual(Buffer.from(kept));
    encodeFrameTransient(FrameKind.request, 9, 1, messages.wake.request, fields(2));
    expect(decodeOne(first).body[0]).toBe(2);
    expect(decodeOne(kept).body[0]).toBe(1);
  });

  test("a transient frame larger than the buffer so far grows it and round-trips", () => {
    const json = "z".repeat(300_000);
    const frame = encodeFrameTransient(FrameKind.reply, 11, 4, messages.status.reply, { json });
    expect(decodeFields(messages.status.reply, decodeOne(frame).body, "status").json).toBe(json);
  });

  test("u64 and i32 at their edges", () => {
    const schema = { wide: "u64", signed: "i32" } as const;
    for (const [wide, signed] of [
      [0, -0x80000000],
      [2 ** 32 - 1, -1],
      [2 ** 32, 0x7fffffff],
      [Number.MAX_SAFE_INTEGER, 0],
    ] as const) {
      const frame = encodeFrame(FrameKind.reply, 1, 1, schema, { wide, signed });
      expect(decodeFields(schema, decodeOne(frame).body, "edges")).toEqual({ wide, signed });
    }
    const beyond = Uint8Array.of(0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0); // 2^53
    expect(() => decodeFields(schema, beyond, "edges")).toThrow("9007199254740992, beyond 2^53");
  });

  test("an outbox keeps its own copy of what the socket did not take, so a reused buffer is safe", () => {
    const written: Uint8Array[] = [];
    let room = 5;
    const socket = {
      write(data: Uint8Array) {
        const taken = Math.min(room, data.byteLength);
        written.push(new Uint8Array(data.subarray(0, taken))); // a copy, as the kernel takes one
        room -= taken;
        return taken;
      },
    };
    const outbox = new Outbox(socket);
    const wake = messages.wake;
    const first = encodeFrameTransient(FrameKind.request, wake.op, 1, wake.request, {
      slot: 1,
      word: 0,
      count: 1,
      reply: 1,
    });
    const expectedFirst = Buffer.from(first);
    outbox.send(first);
    // Another length and op: every byte of the reused buffer changes under the first frame's remainder.
    const status = messages.status;
    const second = encodeFrameTransient(FrameKind.reply, status.op, 2, status.reply, {
      json: "x".repeat(300),
    });
    const expectedSecond = Buffer.from(second);
    outbox.send(second);
    room = 1 << 20;
    outbox.flush();
    expect(Buffer.concat(written)).toEqual(Buffer.concat([expectedFirst, expectedSecond]));
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
  test("a str field takes up to 65535 bytes: exactly that round-trips, one more is refused", () => {
    const longest = "n".repeat(0xffff);
    const frame = decodeOne(
      encodeFrame(FrameKind.request, 4, 1, messages.open.request, { name: longest, mode: 1 }),
    );
    expect(decodeFields(messages.open.request, frame.body, "open").name).toBe(longest);
    expectCode(
      () => encodeFrame(FrameKind.request, 4, 1, messages.open.request, { name: `${longest}n`, mode: 1 }),
      "InvalidArgument",
    );
  });
  test("an error message of exactly the longest length sent is kept whole; one byte more is shortened", () => {
    const longest = `Failed to x since ${"y".repeat(MAX_ERROR_MESSAGE_BYTES - 18)}`;
    expect(Buffer.byteLength(longest)).toBe(MAX_ERROR_MESSAGE_BYTES);
    expect(shortenMessage(longest)).toBe(longest);
    expect(shortenMessage(`${longest}y`)).toContain(" [...] ");
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

function withReserved(bytes: Uint8Array, reserved: number): Uint8Array {
  bytes[7] = reserved;
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
