/**
 * The message table (src/protocol/messages.ts) against docs/protocol.md's: both sides of the wire read the
 * one table, so a swapped, retyped or renumbered field round-trips in every other test and only breaks
 * talking to another implementation, or to the documented protocol. And the small rules beside it.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type MessageName, MUTATING, messages, type Schema } from "../src/protocol/messages.ts";

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
