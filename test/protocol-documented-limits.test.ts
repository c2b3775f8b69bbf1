/**
 * The protocol's limits as docs/protocol.md states them to other implementations: both ends of ivsh read
 * the one constant, so a changed value round-trips in every other test and only breaks talking to a peer
 * that follows the document (an old client's empty status body, a name another client may send).
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ArbiterState, type SlotMemory } from "../src/host/state.ts";
import { MAX_FRAME_BYTES, MAX_NAME_BYTES, STATUS_DEFAULT_LIMIT } from "../src/protocol/messages.ts";
import { computeGeometry } from "../src/region/layout.ts";
import { expectFailure } from "./helpers/errors.ts";

const doc = readFileSync(join(import.meta.dir, "../docs/protocol.md"), "utf8");

/** The value column of section 6's row for `name`, digits only. */
function documented(name: string): number {
  const row = doc.match(new RegExp(`^\\| \`${name}\` \\| ([\\d,]+)`, "m"));
  if (!row?.[1]) throw new Error(`docs/protocol.md has no constants row for ${name}`);
  return Number(row[1].replaceAll(",", ""));
}

test("MAX_FRAME_BYTES and MAX_NAME_BYTES are the values docs/protocol.md gives", () => {
  expect(MAX_FRAME_BYTES).toBe(documented("MAX_FRAME_BYTES"));
  expect(MAX_NAME_BYTES).toBe(documented("MAX_NAME_BYTES"));
});

test("an empty status body means the limit docs/protocol.md names", () => {
  const stated = doc.match(
    /An empty body \(a client older than these fields\) means\s+`limit` (\d+) \(`STATUS_DEFAULT_LIMIT`\)/,
  );
  expect(stated?.[1]).toBeDefined();
  expect(STATUS_DEFAULT_LIMIT).toBe(Number(stated?.[1]));
});

test("a name of 255 bytes is taken and one of 256 refused, as documented", () => {
  const noSlots: SlotMemory = { initialise() {}, clear() {}, releaseDeadOwner: () => false };
  const geometry = computeGeometry(1 << 20, 4096, 16);
  const state = new ArbiterState(geometry, { clientQuotaBlocks: 0, vmQuotaBlocks: 0 }, noSlots);
  const session = state.openSession("names", 1, "host");
  expect(state.openSync(session, "n".repeat(255), "mutex", 1).object.name).toHaveLength(255);
  expectFailure(
    () => state.openSync(session, "m".repeat(256), "mutex", 1),
    "InvalidArgument",
    /longer than 255 bytes/,
  );
});
