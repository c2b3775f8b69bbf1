/**
 * Mutations of valid frames: each takes a frame built from the messages table and returns the bytes to
 * send instead. Whatever they produce, the model works out how the arbiter must read it, so a mutation
 * needs no expectation of its own.
 */
import { FRAME_HEADER_BYTES, MAX_FRAME_BYTES, messages } from "../../src/protocol/messages.ts";
import type { Prng } from "../helpers/prng.ts";
import type { Built, Requests } from "./requests.ts";
import { type FieldSpot, fieldSpots, writeNumber } from "./wire.ts";

type Mutation = (frame: Built, rng: Prng, requests: Requests) => Uint8Array;

const KNOWN_OPS = Object.values(messages).map((message) => message.op);
const BAD_UTF8: readonly number[][] = [
  [0xff],
  [0xfe],
  [0x80],
  [0xc0, 0x80],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xe2, 0x82],
  [0xf0, 0x9f],
  [0x41],
];
const BOUNDARIES: Record<string, readonly bigint[]> = {
  u8: [0n, 1n, 2n, 3n, 4n, 15n, 16n, 0x7fn, 0x80n, 0xffn],
  u16: [0n, 1n, 0xffffn],
  u32: [0n, 1n, 2n, 15n, 16n, 63n, 64n, 4095n, 4096n, 0x7fffffffn, 0x80000000n, 0xfffffffen, 0xffffffffn],
  i32: [0n, -1n, 1n, 0x7fffffffn, -0x80000000n],
  u64: [
    0n,
    1n,
    0xffffffffn,
    0x100000000n,
    2n ** 53n - 1n,
    2n ** 53n,
    2n ** 53n + 1n,
    2n ** 63n,
    2n ** 64n - 1n,
  ],
};

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function withHeader(frame: Built, patch: (header: DataView) => void): Uint8Array {
  const bytes = frame.bytes.slice();
  patch(view(bytes));
  return bytes;
}

function flip(bytes: Uint8Array, rng: Prng, from: number): Uint8Array {
  if (bytes.byteLength <= from) return flip(bytes, rng, 0);
  for (let flips = rng.range(1, 4); flips > 0; flips--) {
    const at = rng.range(from, bytes.byteLength - 1);
    bytes[at]! ^= 1 << rng.int(8);
  }
  return bytes;
}

/** Changes the body (cut or grown) and keeps the length field honest: a well-framed, badly-bodied frame. */
function reframe(frame: Built, body: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(FRAME_HEADER_BYTES + body.byteLength);
  bytes.set(frame.bytes.subarray(0, FRAME_HEADER_BYTES));
  bytes.set(body, FRAME_HEADER_BYTES);
  view(bytes).setUint32(0, bytes.byteLength, true);
  return bytes;
}

function body(frame: Built): Uint8Array {
  return frame.bytes.subarray(FRAME_HEADER_BYTES);
}

function spots(frame: Built, strings: boolean): FieldSpot[] {
  const all = fieldSpots(messages[frame.name].request, body(frame));
  return all.filter((spot) => (spot.type === "str") === strings && spot.type !== "text");
}

function fieldRange(frame: Built, rng: Prng): Uint8Array {
  const numeric = spots(frame, false);
  if (numeric.length === 0) return reframe(frame, concatBytes(body(frame), rng.bytes(rng.range(1, 8))));
  const bytes = frame.bytes.slice();
  const spot = rng.pick(numeric);
  writeNumber(bytes.subarray(FRAME_HEADER_BYTES), spot, rng.pick(BOUNDARIES[spot.type]!));
  return bytes;
}

function invalidUtf8(rng: Prng, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let at = 0; at < length; ) for (const byte of rng.pick(BAD_UTF8)) if (at < length) out[at++] = byte;
  return out;
}

function stringLength(rng: Prng): number {
  return rng.pick([
    rng.range(1, 16),
    rng.range(84, 90),
    rng.range(250, 300),
    4096,
    rng.range(30_000, 65_535),
  ]);
}

/** A name field replaced: huge (up to the u16 limit) or invalid UTF-8 of the same kinds of sizes. */
function renamed(frame: Built, rng: Prng, requests: Requests, invalid: boolean): Uint8Array {
  const strings = spots(frame, true);
  if (strings.length === 0) return fieldRange(frame, rng);
  const { key } = rng.pick(strings);
  const length = stringLength(rng);
  const text = invalid ? "x".repeat(length) : rng.chance(0.5) ? "n".repeat(length) : "€".repeat(length / 3);
  const rebuilt = requests.build(frame.name, { ...frame.fields, [key]: text }, frame.requestId).bytes;
  if (!invalid) return rebuilt;
  const spot = fieldSpots(messages[frame.name].request, rebuilt.subarray(FRAME_HEADER_BYTES)).find(
    (candidate) => candidate.key === key,
  )!;
  rebuilt.set(invalidUtf8(rng, length), FRAME_HEADER_BYTES + spot.offset + 2);
  return rebuilt;
}

function stringLengthLie(frame: Built, rng: Prng): Uint8Array {
  const strings = spots(frame, true);
  if (strings.length === 0) return fieldRange(frame, rng);
  const spot = rng.pick(strings);
  const bytes = frame.bytes.slice();
  const actual = spot.size - 2;
  const lie = rng.pick([0, 0xffff, actual + 1, Math.max(0, actual - 1), actual + rng.range(2, 300)]);
  view(bytes).setUint16(FRAME_HEADER_BYTES + spot.offset, Math.min(lie, 0xffff), true);
  return bytes;
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

const MUTATIONS: Record<string, [number, Mutation]> = {
  bitflip: [10, (frame, rng) => flip(frame.bytes.slice(), rng, 0)],
  "bitflip-body": [10, (frame, rng) => flip(frame.bytes.slice(), rng, FRAME_HEADER_BYTES)],
  truncate: [3, (frame, rng) => frame.bytes.slice(0, rng.range(1, frame.bytes.byteLength - 1))],
  "truncate-body": [5, (frame, rng) => reframe(frame, body(frame).slice(0, rng.int(body(frame).byteLength)))],
  extend: [5, (frame, rng) => reframe(frame, concatBytes(body(frame), rng.bytes(rng.range(1, 16))))],
  "length-short": [
    4,
    (frame, rng) => withHeader(frame, (h) => h.setUint32(0, frame.bytes.byteLength - rng.range(1, 8), true)),
  ],
  "length-long": [
    4,
    (frame, rng) => withHeader(frame, (h) => h.setUint32(0, frame.bytes.byteLength + rng.range(1, 64), true)),
  ],
  "length-huge": [
    3,
    (frame, rng) =>
      withHeader(frame, (h) =>
        h.setUint32(
          0,
          rng.pick([MAX_FRAME_BYTES + 1, 0x7fffffff, 0xffffffff, MAX_FRAME_BYTES + rng.range(2, 1 << 30)]),
          true,
        ),
      ),
  ],
  "length-tiny": [
    3,
    (frame, rng) => withHeader(frame, (h) => h.setUint32(0, rng.range(0, FRAME_HEADER_BYTES - 1), true)),
  ],
  "op-unknown": [
    4,
    (frame, rng) =>
      withHeader(frame, (h) => h.setUint16(4, rng.pick([0, 13, 99, 0xffff, rng.range(13, 0xffff)]), true)),
  ],
  "op-swap": [6, (frame, rng) => withHeader(frame, (h) => h.setUint16(4, rng.pick(KNOWN_OPS), true))],
  "kind-reply": [2, (frame) => withHeader(frame, (h) => h.setUint8(6, 1))],
  "kind-error": [2, (frame) => withHeader(frame, (h) => h.setUint8(6, 2))],
  "kind-bad": [2, (frame, rng) => withHeader(frame, (h) => h.setUint8(6, rng.range(3, 255)))],
  reserved: [2, (frame, rng) => withHeader(frame, (h) => h.setUint8(7, rng.range(1, 255)))],
  "field-range": [16, fieldRange],
  "name-huge": [4, (frame, rng, requests) => renamed(frame, rng, requests, false)],
  "name-utf8": [5, (frame, rng, requests) => renamed(frame, rng, requests, true)],
  "str-length": [4, stringLengthLie],
  "empty-body": [2, (frame) => reframe(frame, new Uint8Array(0))],
  "id-zero": [2, (frame) => withHeader(frame, (h) => h.setUint32(8, 0, true))],
  "id-max": [2, (frame) => withHeader(frame, (h) => h.setUint32(8, 0xffffffff, true))],
  "hello-again": [2, (_frame, _rng, requests) => requests.hello().bytes],
  "identify-after-hello": [2, (_frame, _rng, requests) => requests.identify("evil").bytes],
};

const WEIGHTS = Object.fromEntries(Object.entries(MUTATIONS).map(([kind, [weight]]) => [kind, weight]));

/**
 * Mutations that keep the framing sound: a well-formed request with wrong contents (a field at a
 * boundary, a huge or invalid name, request id 0 or 2^32 - 1), which the arbiter refuses and then goes on.
 */
const IN_FRAME = { "field-range": 16, "name-huge": 1, "name-utf8": 2, "id-zero": 2, "id-max": 2 };

/** A mutation from IN_FRAME: cheap to mix among valid work, even in floods. */
export function mutateInFrame(rng: Prng, requests: Requests): { bytes: Uint8Array; kind: string } {
  const kind = rng.weighted(IN_FRAME);
  const frame = ABOUT_NAMES.has(kind) ? requests.named() : requests.work();
  return { bytes: MUTATIONS[kind]![1](frame, rng, requests), kind };
}

/** Mutations about a string field: they start from a request that has one. */
const ABOUT_NAMES = new Set(["name-huge", "name-utf8", "str-length"]);

/**
 * One random mutation of `base`, or of a fresh work request: the bytes to send and the mutation's name
 * (for the counts).
 */
export function mutate(rng: Prng, requests: Requests, base?: Built): { bytes: Uint8Array; kind: string } {
  const kind = rng.weighted(WEIGHTS);
  const frame = base ?? (ABOUT_NAMES.has(kind) ? requests.named() : requests.work());
  return { bytes: MUTATIONS[kind]![1](frame, rng, requests), kind };
}

export { invalidUtf8 };
