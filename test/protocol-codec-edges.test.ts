/**
 * Mutation round 15 on src/protocol/codec.ts: the edges protocol.test.ts and fuzz.test.ts left open.
 * A string one byte longer than its body, a decoder whose buffer is full of consumed bytes, a head cut
 * inside a character, and the bytes `drain` hands over after a frame was returned.
 */
import { describe, expect, test } from "bun:test";
import { isIvshError } from "../src/errors.ts";
import {
  decodeFields,
  encodeFrame,
  FrameDecoder,
  MAX_ERROR_MESSAGE_BYTES,
  shortenMessage,
} from "../src/protocol/codec.ts";
import { FrameKind, messages } from "../src/protocol/messages.ts";

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return isIvshError(error) ? error.code : `not an IvshError: ${String(error)}`;
  }
  return "nothing thrown";
}

const wake = (requestId: number) =>
  encodeFrame(FrameKind.request, messages.wake.op, requestId, messages.wake.request, {
    slot: 3,
    word: 1,
    count: 1,
    reply: 0,
  });

describe("decodeFields: a length that overruns the body by one byte", () => {
  test("a str claiming one byte more than the body holds is a BadFrame, its own buffer ending there", () => {
    // A body of its own ArrayBuffer, as FrameDecoder.next() returns: reading one byte past it would be
    // a RangeError from Buffer.from, not the BadFrame that ends the connection with a reason.
    const body = new Uint8Array([4, 0, 65, 66, 67]);
    expect(body.byteOffset + body.byteLength).toBe(body.buffer.byteLength);
    expect(codeOf(() => decodeFields(messages.open.request, body, "open"))).toBe("BadFrame");
    expect(() => decodeFields(messages.open.request, body, "open")).toThrow(/truncated \(5 bytes\)/);
  });
});

describe("FrameDecoder: room made by moving what is left to the front", () => {
  test("a partial frame left at the end of a full buffer is moved, not lost, when the rest arrives", () => {
    const open = (name: string) =>
      encodeFrame(FrameKind.request, messages.open.op, 100, messages.open.request, { name, mode: 1 });
    // An open frame first, sized so that after it whole wake frames fill the initial 4 KiB but for 15
    // bytes of one more: the held part then spans the header, and what lay under it was the open frame.
    let name = "n";
    while ((4096 - open(name).byteLength) % wake(1).byteLength !== 15) name += "n";
    const whole = Math.floor((4096 - open(name).byteLength) / wake(1).byteLength);
    const stream = Buffer.concat([open(name), ...Array.from({ length: whole + 1 }, (_, i) => wake(i + 1))]);
    const decoder = new FrameDecoder();
    decoder.push(stream.subarray(0, 4096));
    expect(decoder.next()?.requestId).toBe(100);
    for (let i = 1; i <= whole; i++) expect(decoder.next()?.requestId).toBe(i);
    expect(decoder.next()).toBeUndefined();
    expect(decoder.pendingBytes).toBe(15);
    // The rest does not fit after what is held, but fits the buffer once the held bytes move to its front.
    decoder.push(stream.subarray(4096));
    const last = decoder.next();
    expect(last?.requestId).toBe(whole + 1);
    expect(decodeFields(messages.wake.request, last!.body, "wake")).toEqual({
      slot: 3,
      word: 1,
      count: 1,
      reply: 0,
    });
    expect(decoder.pendingBytes).toBe(0);
  });
});

describe("FrameDecoder.drain: the bytes not yet returned, only those", () => {
  test("after one frame was returned, drain hands over the next frame's bytes and leaves nothing", () => {
    const decoder = new FrameDecoder();
    const second = wake(2);
    decoder.push(Buffer.concat([wake(1), second]));
    expect(decoder.next()?.requestId).toBe(1);
    expect(Buffer.from(decoder.drain())).toEqual(Buffer.from(second));
    expect(decoder.pendingBytes).toBe(0);
    expect(decoder.next()).toBeUndefined();
  });
});

describe("shortenMessage: the head's cut falls inside a character", () => {
  test("the head ends before a character cut in two, no U+FFFD, within the limit", () => {
    // 25 ASCII bytes then 2-byte characters: byte 508 (the head's cut) is the second byte of one.
    const message = `Failed to open segment 'x${"é".repeat(50_000)}' read since the name is too long`;
    const half = Math.floor((MAX_ERROR_MESSAGE_BYTES - " [...] ".length) / 2);
    expect((half - 25) % 2).toBe(1);
    const short = shortenMessage(message);
    expect(short).not.toContain("\uFFFD");
    expect(Buffer.byteLength(short)).toBeLessThanOrEqual(MAX_ERROR_MESSAGE_BYTES);
    const head = short.slice(0, short.indexOf(" [...] "));
    expect(head).toBe(`Failed to open segment 'x${"é".repeat((half - 25 - 1) / 2)}`);
    expect(short).toEndWith("é' read since the name is too long");
  });
});
