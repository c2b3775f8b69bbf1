/**
 * The message table (src/protocol/messages.ts) against docs/protocol.md's: both sides of the wire read the
 * one table, so a swapped, retyped or renumbered field round-trips in every other test and only breaks
 * talking to another implementation, or to the documented protocol. And the small rules beside it.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { isIvshError } from "../src/errors.ts";
import {
  checkHelloVersion,
  isVmName,
  type MessageName,
  MUTATING,
  messages,
  PROTOCOL_VERSION,
  type Schema,
  sweepPeriodMs,
  WIRE_MAGIC,
} from "../src/protocol/messages.ts";

const doc = readFileSync(join(import.meta.dir, "../docs/protocol.md"), "utf8");

/** "`a` u32, `b` str" as [name, type] pairs; "(empty)" and its variants as none. */
function fieldsOf(cell: string): [string, string][] {
  return [...cell.matchAll(/`(\w+)` (u8|u16|u32|i32|u64|str|text)\b/g)].map((match) => [
    match[1]!,
    match[2]!,
  ]);
}

const asPairs = (schema: Schema): [string, string][] => Object.entries(schema);

const GRANT = /\*\*Segment grant\*\*[^:]*:([^.]*)\./.exec(doc)?.[1] ?? "";

/** The table's rows: op, name, request fields, reply fields, mutating. */
const ROWS = [...doc.matchAll(/^\| (\d+) \| `(\w+)` \| ([^|]*) \| ([^|]*) \| (yes|no) \|$/gm)].map(
  (match) => ({
    op: Number(match[1]),
    name: match[2] as MessageName,
    request: match[3]!,
    reply: match[4]!,
    mutating: match[5] === "yes",
  }),
);

describe("docs/protocol.md's message table is the code's", () => {
  test("every message, once, in op order", () => {
    expect(ROWS.map((row): string => row.name).sort()).toEqual(Object.keys(messages).sort());
  });

  test.each(ROWS)("$op $name: op, fields in order with their types, mutating or not", (row) => {
    const message: { op: number; request: Schema; reply: Schema } = messages[row.name];
    expect(message.op).toBe(row.op);
    expect(asPairs(message.request)).toEqual(fieldsOf(row.request));
    const reply = row.reply.startsWith("segment grant") ? GRANT : row.reply;
    expect(asPairs(message.reply)).toEqual(fieldsOf(reply));
    expect(MUTATING.has(row.name)).toBe(row.mutating);
  });
});

describe("the rules beside the table", () => {
  test("a VM name is 1 to 64 of [A-Za-z0-9._-], not 'host'", () => {
    expect(isVmName("a".repeat(64))).toBe(true);
    expect(isVmName("a".repeat(65))).toBe(false);
    expect(isVmName("web-1.a_b")).toBe(true);
    for (const refused of ["", "host", "a b", "a/b"]) expect(isVmName(refused)).toBe(false);
  });

  test("a hello shorter than magic and version is a VersionMismatch, not a RangeError", () => {
    const body = new Uint8Array(6);
    const view = new DataView(body.buffer);
    view.setUint32(0, WIRE_MAGIC, true);
    view.setUint16(4, PROTOCOL_VERSION, true);
    expect(() => checkHelloVersion(body)).not.toThrow();
    for (const length of [0, 4, 5]) {
      let caught: unknown;
      try {
        checkHelloVersion(body.subarray(0, length));
      } catch (error) {
        caught = error;
      }
      expect(isIvshError(caught, "VersionMismatch")).toBe(true);
    }
  });

  test("the sweep runs every quarter lease, between 20 ms and 1 s", () => {
    expect(sweepPeriodMs(40)).toBe(20);
    expect(sweepPeriodMs(200)).toBe(50);
    expect(sweepPeriodMs(10_000)).toBe(1000);
  });
});
