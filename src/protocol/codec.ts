/**
 * Frames on the wire (see docs/protocol.md):
 *
 *   offset 0  u32 length      whole frame in bytes, header included (12 .. MAX_FRAME_BYTES)
 *   offset 4  u16 op          messages[*].op
 *   offset 6  u8  kind        FrameKind: request, reply, error
 *   offset 7  u8  reserved    0
 *   offset 8  u32 request id  chosen by the client, echoed by the reply (pipelining)
 *   offset 12 body            the message's fields in schema order
 */
import { failure, IvshError } from "../errors.ts";
import {
  errorBody,
  type Fields,
  type FieldType,
  FRAME_HEADER_BYTES,
  FrameKind,
  type FrameKindValue,
  MAX_FRAME_BYTES,
  type Schema,
} from "./messages.ts";

export interface Frame {
  op: number;
  kind: FrameKindValue;
  requestId: number;
  body: Uint8Array;
}

const FIXED_SIZES = { u8: 1, u16: 2, u32: 4, i32: 4, u64: 8 } as const;
/** Longest error message sent, in UTF-8 bytes; see `shortenMessage`. */
/** The largest value of a u32 field: block counts, status limits, client ids. */
export const U32_MAX = 0xffffffff;
export const MAX_ERROR_MESSAGE_BYTES = 1024;
const ELISION = " [...] ";

/** Each schema's fields, listed once: every frame in and out walks one, and `Object.entries` allocates. */
const schemaFields = new WeakMap<Schema, [string, FieldType][]>();

function fieldsOf(schema: Schema): [string, FieldType][] {
  const known = schemaFields.get(schema);
  if (known) return known;
  const fields = Object.entries(schema);
  schemaFields.set(schema, fields);
  return fields;
}

function encodedSize(schema: Schema, fields: Record<string, number | string>): number {
  let size = 0;
  for (const [key, type] of fieldsOf(schema)) {
    if (type === "str" || type === "text")
      size += (type === "str" ? 2 : 4) + Buffer.byteLength(String(fields[key] ?? ""), "utf8");
    else size += FIXED_SIZES[type];
  }
  return size;
}

function checkInteger(key: string, value: number, max: number, min = 0): void {
  if (!Number.isInteger(value) || value < min || value > max)
    throw failure("InvalidArgument", `encode field '${key}'`, `${value} is outside ${min}..${max}`);
}

/** Little-endian stores into a byte array: a DataView per frame was most of what a reply allocated. */
function putU16(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value & 0xff;
  bytes[at + 1] = (value >>> 8) & 0xff;
}

function putU32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value & 0xff;
  bytes[at + 1] = (value >>> 8) & 0xff;
  bytes[at + 2] = (value >>> 16) & 0xff;
  bytes[at + 3] = (value >>> 24) & 0xff;
}

function getU16(bytes: Uint8Array, at: number): number {
  return bytes[at]! | (bytes[at + 1]! << 8);
}

function getU32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

function writeField(bytes: Buffer, at: number, key: string, type: string, value: unknown): number {
  switch (type) {
    case "u8":
      checkInteger(key, Number(value), 0xff);
      bytes[at] = Number(value);
      return at + 1;
    case "u16":
      checkInteger(key, Number(value), 0xffff);
      putU16(bytes, at, Number(value));
      return at + 2;
    case "u32":
      checkInteger(key, Number(value), U32_MAX);
      putU32(bytes, at, Number(value));
      return at + 4;
    case "i32":
      checkInteger(key, Number(value), 0x7fffffff, -0x80000000);
      putU32(bytes, at, Number(value) >>> 0);
      return at + 4;
    case "u64": {
      const wide = Number(value);
      checkInteger(key, wide, Number.MAX_SAFE_INTEGER);
      putU32(bytes, at, wide % 2 ** 32);
      putU32(bytes, at + 4, Math.floor(wide / 2 ** 32));
      return at + 8;
    }
    default: {
      const text = String(value ?? "");
      // UTF-8 cannot carry half a UTF-16 pair: encoded, every such half becomes U+FFFD, and two names
      // that differ only there would name one object.
      if (!text.isWellFormed())
        throw failure("InvalidArgument", `encode field '${key}'`, "it holds half of a UTF-16 surrogate pair");
      const lengthBytes = type === "str" ? 2 : 4;
      const written = text.length === 0 ? 0 : bytes.write(text, at + lengthBytes, "utf8");
      if (type === "str") {
        if (written > 0xffff)
          throw failure("InvalidArgument", `encode field '${key}'`, "it exceeds 65535 bytes");
        putU16(bytes, at, written);
      } else putU32(bytes, at, written);
      return at + lengthBytes + written;
    }
  }
}

export function encodeFrame(
  kind: FrameKindValue,
  op: number,
  requestId: number,
  schema: Schema,
  fields: Record<string, number | string>,
): Uint8Array {
  const length = frameLength(op, schema, fields);
  return writeFrame(Buffer.allocUnsafe(length), length, kind, op, requestId, schema, fields);
}

/** A frame encoded into one buffer that every call reuses (grown as needed). */
let scratch = Buffer.allocUnsafe(4096);

/**
 * As `encodeFrame`, into a buffer the next call overwrites: for a writer that hands the frame to the
 * kernel at once and copies whatever it must keep (the arbiter's replies: no allocation per reply).
 */
export function encodeFrameTransient(
  kind: FrameKindValue,
  op: number,
  requestId: number,
  schema: Schema,
  fields: Record<string, number | string>,
): Uint8Array {
  const length = frameLength(op, schema, fields);
  if (length > scratch.byteLength)
    scratch = Buffer.allocUnsafe(Math.min(MAX_FRAME_BYTES, Math.max(length, 2 * scratch.byteLength)));
  return writeFrame(scratch, length, kind, op, requestId, schema, fields).subarray(0, length);
}

/** The bytes a frame of these fields takes, header included (a frame may take MAX_FRAME_BYTES). */
export function frameBytes(schema: Schema, fields: Record<string, number | string>): number {
  return FRAME_HEADER_BYTES + encodedSize(schema, fields);
}

function frameLength(op: number, schema: Schema, fields: Record<string, number | string>): number {
  const length = frameBytes(schema, fields);
  if (length > MAX_FRAME_BYTES)
    throw failure(
      "InvalidArgument",
      `encode op ${op}`,
      `the frame would be ${length} bytes (limit ${MAX_FRAME_BYTES})`,
    );
  return length;
}

function writeFrame(
  bytes: Buffer,
  length: number,
  kind: FrameKindValue,
  op: number,
  requestId: number,
  schema: Schema,
  fields: Record<string, number | string>,
): Buffer {
  putU32(bytes, 0, length);
  putU16(bytes, 4, op);
  bytes[6] = kind;
  bytes[7] = 0;
  putU32(bytes, 8, requestId >>> 0);
  let at = FRAME_HEADER_BYTES;
  for (const [key, type] of fieldsOf(schema)) at = writeField(bytes, at, key, type, fields[key]);
  return bytes;
}

export function encodeErrorFrame(op: number, requestId: number, error: IvshError): Uint8Array {
  return encodeFrame(FrameKind.error, op, requestId, errorBody, {
    code: error.codeNumber,
    message: shortenMessage(error.message),
  });
}

/**
 * Messages quote what the peer sent (a name of up to 64 KiB, which invalid UTF-8 triples on decoding): one
 * that long would not fit the u16 `message` field, and the error meant to explain the problem could not be
 * sent. Keeps the start ("Failed to X") and the end ("since Y"), cut at character boundaries.
 */
export function shortenMessage(message: string, maxBytes = MAX_ERROR_MESSAGE_BYTES): string {
  const bytes = Buffer.from(message, "utf8");
  if (bytes.byteLength <= maxBytes) return message;
  const half = Math.floor((maxBytes - ELISION.length) / 2);
  let headEnd = half;
  while (headEnd > 0 && (bytes[headEnd]! & 0xc0) === 0x80) headEnd--;
  let tailStart = bytes.byteLength - half;
  while (tailStart < bytes.byteLength && (bytes[tailStart]! & 0xc0) === 0x80) tailStart++;
  return `${bytes.subarray(0, headEnd).toString("utf8")}${ELISION}${bytes.subarray(tailStart).toString("utf8")}`;
}

/** Decodes a body against its schema; a body too short or too long is a BadFrame. */
export function decodeFields<S extends Schema>(schema: S, body: Uint8Array, what: string): Fields<S> {
  const out: Record<string, number | string> = {};
  let at = 0;
  for (const [key, type] of fieldsOf(schema)) {
    if (type === "str" || type === "text") {
      const lengthBytes = type === "str" ? 2 : 4;
      if (at + lengthBytes > body.byteLength) throw truncated(what, body);
      const length = type === "str" ? getU16(body, at) : getU32(body, at);
      at += lengthBytes;
      if (at + length > body.byteLength) throw truncated(what, body);
      out[key] = length === 0 ? "" : Buffer.from(body.buffer, body.byteOffset + at, length).toString("utf8");
      at += length;
      continue;
    }
    if (at + FIXED_SIZES[type] > body.byteLength) throw truncated(what, body);
    if (type === "u8") out[key] = body[at]!;
    else if (type === "u16") out[key] = getU16(body, at);
    else if (type === "u32") out[key] = getU32(body, at);
    else if (type === "i32") out[key] = getU32(body, at) | 0;
    else {
      const high = getU32(body, at + 4);
      if (high >= 2 ** 21)
        throw failure(
          "BadFrame",
          `decode ${what}`,
          `field '${key}' is ${(BigInt(high) << 32n) | BigInt(getU32(body, at))}, beyond 2^53`,
        );
      out[key] = high * 2 ** 32 + getU32(body, at);
    }
    at += FIXED_SIZES[type];
  }
  if (at !== body.byteLength)
    throw failure("BadFrame", `decode ${what}`, `${body.byteLength - at} bytes follow its last field`);
  return out as Fields<S>;
}

function truncated(what: string, body: Uint8Array): IvshError {
  return failure("BadFrame", `decode ${what}`, `its body is truncated (${body.byteLength} bytes)`);
}

export function decodeError(body: Uint8Array): IvshError {
  const { code, message } = decodeFields(errorBody, body, "an error reply");
  return IvshError.fromWire(code, message);
}

/**
 * Splits a byte stream into frames. A length outside 12..MAX_FRAME_BYTES or a bad kind is thrown as a
 * BadFrame as soon as the header arrives, without waiting for (or buffering) the body it announces.
 */
export class FrameDecoder {
  /** Small to start, as almost every frame is: an arbiter holds one per connection (1 000 × 64 KiB was 62 MiB). */
  private buffer = new Uint8Array(4 * 1024);
  private start = 0;
  private end = 0;

  push(chunk: Uint8Array): void {
    if (this.end + chunk.byteLength > this.buffer.byteLength) this.makeRoom(chunk.byteLength);
    this.buffer.set(chunk, this.end);
    this.end += chunk.byteLength;
  }

  /** The next complete frame, or undefined when more bytes are needed. Its body is its own copy. */
  next(): Frame | undefined {
    const frame = this.nextInPlace();
    if (frame) frame.body = frame.body.slice();
    return frame;
  }

  /**
   * As `next`, but the body is a view of this decoder's buffer, valid until the next `push`: for a reader
   * that decodes each frame before it reads more (the arbiter, the client), and so copies nothing.
   */
  nextInPlace(): Frame | undefined {
    const available = this.end - this.start;
    if (available < FRAME_HEADER_BYTES) return undefined;
    const header = this.start;
    const length = getU32(this.buffer, header);
    if (length < FRAME_HEADER_BYTES || length > MAX_FRAME_BYTES)
      throw failure(
        "BadFrame",
        "read a frame",
        `its length field says ${length} bytes (allowed 12..${MAX_FRAME_BYTES})`,
      );
    const kind = this.buffer[header + 6]!;
    const reserved = this.buffer[header + 7]!;
    if (kind > FrameKind.error || reserved !== 0)
      throw failure("BadFrame", "read a frame", `its header has kind ${kind} and reserved byte ${reserved}`);
    if (available < length) return undefined;
    const frame: Frame = {
      op: getU16(this.buffer, header + 4),
      kind: kind as FrameKindValue,
      requestId: getU32(this.buffer, header + 8),
      body: this.buffer.subarray(header + FRAME_HEADER_BYTES, header + length),
    };
    this.start += length;
    if (this.start === this.end) this.start = this.end = 0;
    return frame;
  }

  /** Takes the bytes not yet returned as frames (for a reader that switches to raw relaying). */
  drain(): Uint8Array {
    const rest = this.buffer.slice(this.start, this.end);
    this.start = this.end = 0;
    return rest;
  }

  /**
   * The frame begun and not yet whole, if any: how many of its bytes came, the first `shown` of them, and
   * its length once its header came (for the words of a wait that ran out with it in hand).
   */
  unfinished(shown: number): { received: number; bytes: Uint8Array; length?: number } | undefined {
    const received = this.end - this.start;
    if (received === 0) return undefined;
    const bytes = this.buffer.slice(this.start, this.start + Math.min(received, shown));
    if (received < FRAME_HEADER_BYTES) return { received, bytes };
    return { received, bytes, length: getU32(this.buffer, this.start) };
  }

  /** Bytes received that do not yet form a whole frame. */
  get pendingBytes(): number {
    return this.end - this.start;
  }

  private makeRoom(incoming: number): void {
    const live = this.end - this.start;
    let capacity = this.buffer.byteLength;
    while (live + incoming > capacity) capacity *= 2;
    if (capacity === this.buffer.byteLength) this.buffer.copyWithin(0, this.start, this.end);
    else {
      const grown = new Uint8Array(capacity);
      grown.set(this.buffer.subarray(this.start, this.end));
      this.buffer = grown;
    }
    this.start = 0;
    this.end = live;
  }
}
