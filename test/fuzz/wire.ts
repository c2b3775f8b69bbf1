/**
 * The frame format as docs/protocol.md section 3 states it, written again here without src/protocol/codec.ts:
 * the fuzzer predicts what the arbiter must make of its bytes, and checks the arbiter's answers, with its
 * own reading of the spec, so a codec bug shows up as a disagreement instead of being shared.
 */
import {
  type FieldType,
  FRAME_HEADER_BYTES,
  MAX_FRAME_BYTES,
  type Schema,
} from "../../src/protocol/messages.ts";

export interface WireFrame {
  length: number;
  op: number;
  kind: number;
  requestId: number;
  body: Uint8Array;
}

/** The next thing in a byte stream: a frame, or a header no reader may accept (the stream ends there). */
export type Parsed = { frame: WireFrame; start: number } | { problem: string; start: number };

export type Fields = Record<string, number | string>;
export type BodyResult = { fields: Fields } | { problem: string };

const FIXED: Record<Exclude<FieldType, "str" | "text">, number> = { u8: 1, u16: 2, u32: 4, i32: 4, u64: 8 };
const utf8 = new TextDecoder();
const TWO_TO_32 = 0x1_0000_0000;

export function headerProblem(length: number, kind: number, reserved: number): string | undefined {
  if (length < FRAME_HEADER_BYTES || length > MAX_FRAME_BYTES) return `its length field says ${length}`;
  if (kind > 2 || reserved !== 0) return `its kind is ${kind} and its reserved byte ${reserved}`;
  return undefined;
}

/** Splits a byte stream into frames the way a reader must: the header is judged as soon as it is complete. */
export class WireSplitter {
  private buffer = new Uint8Array(4096);
  private start = 0;
  private end = 0;
  /** Stream offset of the first byte not yet returned. */
  offset = 0;
  broken = false;

  push(bytes: Uint8Array): void {
    if (this.end + bytes.byteLength > this.buffer.byteLength) this.compact(bytes.byteLength);
    this.buffer.set(bytes, this.end);
    this.end += bytes.byteLength;
  }

  next(): Parsed | undefined {
    if (this.broken || this.end - this.start < FRAME_HEADER_BYTES) return undefined;
    const at = this.start;
    const length = u32(this.buffer, at);
    const kind = this.buffer[at + 6]!;
    const problem = headerProblem(length, kind, this.buffer[at + 7]!);
    if (problem) {
      this.broken = true;
      return { problem, start: this.offset };
    }
    if (this.end - this.start < length) return undefined;
    const frame: WireFrame = {
      length,
      op: u16(this.buffer, at + 4),
      kind,
      requestId: u32(this.buffer, at + 8),
      body: this.buffer.slice(this.start + FRAME_HEADER_BYTES, this.start + length),
    };
    const start = this.offset;
    this.start += length;
    this.offset += length;
    return { frame, start };
  }

  /** Bytes still needed to complete the frame whose header has arrived (0 if none has). */
  get missing(): number {
    if (this.broken || this.end - this.start < FRAME_HEADER_BYTES) return 0;
    const length = u32(this.buffer, this.start);
    return Math.max(0, length - (this.end - this.start));
  }

  get pending(): number {
    return this.end - this.start;
  }

  private compact(incoming: number): void {
    const live = this.buffer.subarray(this.start, this.end);
    let capacity = this.buffer.byteLength;
    while (live.byteLength + incoming > capacity) capacity *= 2;
    const next = capacity === this.buffer.byteLength ? this.buffer : new Uint8Array(capacity);
    next.set(live, 0);
    this.buffer = next;
    this.end = live.byteLength;
    this.start = 0;
  }
}

/** Each schema's fields, listed once: walking `Object.entries` per frame costs more than the reading. */
const fieldLists = new WeakMap<Schema, [string, FieldType][]>();

function fieldsOf(schema: Schema): [string, FieldType][] {
  const known = fieldLists.get(schema);
  if (known) return known;
  const list = Object.entries(schema);
  fieldLists.set(schema, list);
  return list;
}

function u16(bytes: Uint8Array, at: number): number {
  return bytes[at]! | (bytes[at + 1]! << 8);
}

function u32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

/** Reads a body against its schema; a body that is short, long, or has a u64 beyond 2^53 - 1 is refused. */
export function readBody(schema: Schema, body: Uint8Array): BodyResult {
  const fields: Fields = {};
  let at = 0;
  for (const [key, type] of fieldsOf(schema)) {
    const read = readField(body, at, type);
    if (typeof read === "string") return { problem: `field '${key}' ${read}` };
    fields[key] = read.value;
    at = read.next;
  }
  if (at !== body.byteLength) return { problem: `${body.byteLength - at} bytes follow the last field` };
  return { fields };
}

function readField(
  body: Uint8Array,
  at: number,
  type: FieldType,
): { value: number | string; next: number } | string {
  if (type === "str" || type === "text") {
    const prefix = type === "str" ? 2 : 4;
    if (at + prefix > body.byteLength) return "is cut off in its length";
    const count = prefix === 2 ? u16(body, at) : u32(body, at);
    if (at + prefix + count > body.byteLength) return `is cut off (${count} bytes announced)`;
    return { value: utf8.decode(body.subarray(at + prefix, at + prefix + count)), next: at + prefix + count };
  }
  const size = FIXED[type];
  if (at + size > body.byteLength) return "is cut off";
  const value = readNumber(body, at, type);
  if (Number.isNaN(value)) return "is beyond 2^53 - 1";
  return { value, next: at + size };
}

function readNumber(body: Uint8Array, at: number, type: Exclude<FieldType, "str" | "text">): number {
  if (type === "u8") return body[at]!;
  if (type === "u16") return u16(body, at);
  if (type === "u32") return u32(body, at);
  if (type === "i32") return u32(body, at) | 0;
  const high = u32(body, at + 4);
  // 2^53 - 1 is the largest u64 the protocol carries: its high word is below 2^21.
  if (high >= 0x20_0000) return Number.NaN;
  return high * TWO_TO_32 + u32(body, at);
}

/** Where each field of a well-formed body lies: what the range mutations overwrite. */
export interface FieldSpot {
  key: string;
  type: FieldType;
  offset: number;
  size: number;
}

export function fieldSpots(schema: Schema, body: Uint8Array): FieldSpot[] {
  const spots: FieldSpot[] = [];
  let at = 0;
  for (const [key, type] of fieldsOf(schema)) {
    const size = type === "str" ? 2 + u16(body, at) : type === "text" ? 4 + u32(body, at) : FIXED[type];
    spots.push({ key, type, offset: at, size });
    at += size;
  }
  return spots;
}

/** Writes `value` (an integer up to 2^64 - 1, as a bigint) into a fixed-size field of `body`. */
export function writeNumber(body: Uint8Array, spot: FieldSpot, value: bigint): void {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const masked = BigInt.asUintN(spot.size * 8, value);
  if (spot.size === 8) view.setBigUint64(spot.offset, masked, true);
  else if (spot.size === 4) view.setUint32(spot.offset, Number(masked), true);
  else if (spot.size === 2) view.setUint16(spot.offset, Number(masked), true);
  else view.setUint8(spot.offset, Number(masked));
}
