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

function writeField(
  view: DataView,
  bytes: Buffer,
  at: number,
  key: string,
  type: string,
  value: unknown,
): number {
  switch (type) {
    case "u8":
      checkInteger(key, Number(value), 0xff);
      view.setUint8(at, Number(value));
      return at + 1;
    case "u16":
      checkInteger(key, Number(value), 0xffff);
      view.setUint16(at, Number(value), true);
      return at + 2;
    case "u32":
      checkInteger(key, Number(value), 0xffffffff);
      view.setUint32(at, Number(value), true);
      return at + 4;
    case "i32":
      checkInteger(key, Number(value), 0x7fffffff, -0x80000000);
      view.setInt32(at, Number(value), true);
      return at + 4;
    case "u64":
      checkInteger(key, Number(value), Number.MAX_SAFE_INTEGER);
      view.setBigUint64(at, BigInt(Number(value)), true);
      return at + 8;
    default: {
      const text = String(value ?? "");
      const lengthBytes = type === "str" ? 2 : 4;
      const written = bytes.write(text, at + lengthBytes, "utf8");
      if (type === "str") {
        if (written > 0xffff)
          throw failure("InvalidArgument", `encode field '${key}'`, "it exceeds 65535 bytes");
        view.setUint16(at, written, true);
      } else view.setUint32(at, written, true);
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
  const length = FRAME_HEADER_BYTES + encodedSize(schema, fields);
  if (length > MAX_FRAME_BYTES)
    throw failure(
      "InvalidArgument",
      `encode op ${op}`,
      `the frame would be ${length} bytes (limit ${MAX_FRAME_BYTES})`,
    );
  const bytes = Buffer.allocUnsafe(length);
  const view = new DataView(bytes.buffer, bytes.byteOffset, length);
  view.setUint32(0, length, true);
  view.setUint16(4, op, true);
  view.setUint8(6, kind);
  view.setUint8(7, 0);
  view.setUint32(8, requestId >>> 0, true);
  let at = FRAME_HEADER_BYTES;
  for (const [key, type] of fieldsOf(schema)) at = writeField(view, bytes, at, key, type, fields[key]);
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
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const out: Record<string, number | string> = {};
  let at = 0;
  const need = (count: number) => {
    if (at + count > body.byteLength)
      throw failure("BadFrame", `decode ${what}`, `its body is truncated (${body.byteLength} bytes)`);
  };
  for (const [key, type] of fieldsOf(schema)) {
    if (type === "str" || type === "text") {
      const lengthBytes = type === "str" ? 2 : 4;
      need(lengthBytes);
      const length = type === "str" ? view.getUint16(at, true) : view.getUint32(at, true);
      at += lengthBytes;
      need(length);
      out[key] = Buffer.from(body.buffer, body.byteOffset + at, length).toString("utf8");
      at += length;
      continue;
    }
    need(FIXED_SIZES[type]);
    if (type === "u8") out[key] = view.getUint8(at);
    else if (type === "u16") out[key] = view.getUint16(at, true);
    else if (type === "u32") out[key] = view.getUint32(at, true);
    else if (type === "i32") out[key] = view.getInt32(at, true);
    else {
      const wide = view.getBigUint64(at, true);
      if (wide > BigInt(Number.MAX_SAFE_INTEGER))
        throw failure("BadFrame", `decode ${what}`, `field '${key}' is ${wide}, beyond 2^53`);
      out[key] = Number(wide);
    }
    at += FIXED_SIZES[type];
  }
  if (at !== body.byteLength)
    throw failure("BadFrame", `decode ${what}`, `${body.byteLength - at} bytes follow its last field`);
  return out as Fields<S>;
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

  /** The next complete frame, or undefined when more bytes are needed. */
  next(): Frame | undefined {
    const available = this.end - this.start;
    if (available < FRAME_HEADER_BYTES) return undefined;
    const view = new DataView(this.buffer.buffer, this.buffer.byteOffset + this.start, FRAME_HEADER_BYTES);
    const length = view.getUint32(0, true);
    if (length < FRAME_HEADER_BYTES || length > MAX_FRAME_BYTES)
      throw failure(
        "BadFrame",
        "read a frame",
        `its length field says ${length} bytes (allowed 12..${MAX_FRAME_BYTES})`,
      );
    const kind = view.getUint8(6);
    if (kind > FrameKind.error || view.getUint8(7) !== 0)
      throw failure(
        "BadFrame",
        "read a frame",
        `its header has kind ${kind} and reserved byte ${view.getUint8(7)}`,
      );
    if (available < length) return undefined;
    const frame: Frame = {
      op: view.getUint16(4, true),
      kind: kind as FrameKindValue,
      requestId: view.getUint32(8, true),
      body: this.buffer.slice(this.start + FRAME_HEADER_BYTES, this.start + length),
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
