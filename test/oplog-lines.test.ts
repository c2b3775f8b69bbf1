/**
 * The arbiter's operator log (src/host/oplog.ts) line by line, in-process with the logger spied on: which
 * level each event takes and what it says, where oplog.test.ts's real arbiter meets only some cases.
 */
import { afterEach, beforeEach, expect, spyOn, test } from "bun:test";
import { failure } from "../src/errors.ts";
import { requestRefused, sessionEnded, sessionStarted } from "../src/host/oplog.ts";
import { log } from "../src/log.ts";
import { channelSlotName } from "../src/region/layout.ts";

let lines: string[];
let spies: { mockRestore(): void }[];

beforeEach(() => {
  lines = [];
  spies = (["debug", "info", "warn"] as const).map((level) =>
    spyOn(log, level).mockImplementation((...parts: unknown[]) => {
      lines.push(`${level} ${parts.join(" ")}`);
    }),
  );
});
afterEach(() => {
  for (const spy of spies) spy.mockRestore();
});

const session = (clientId: number) => ({ clientId, name: "app", pid: 42, vm: "vm-a" });

test("a fresh session saying goodbye holding a grant, or a lock handle, is announced: not the quiet status-only goodbye", () => {
  for (const [grants, syncHolds] of [
    [1, 0],
    [0, 1],
  ] as const) {
    lines = [];
    const one = session(10 + grants);
    sessionStarted(one, false);
    sessionEnded(one, "said goodbye", { grants, syncHolds, ownerDied: [] });
    expect(lines[0]).toMatch(/^info client #\d+ 'app' \(pid 42, VM vm-a\) connected$/);
    expect(lines[1]).toMatch(/^info client #\d+ 'app' .* said goodbye: released/);
    expect(lines).toHaveLength(2);
  }
});

test("a resumed session is said at info level", () => {
  sessionStarted(session(20), true);
  expect(lines).toEqual(["info client #20 'app' (pid 42, VM vm-a) resumed its session"]);
});

test("a channel role left by a session is told at info (its peer is told); a lock left is a warning", () => {
  sessionEnded(session(30), "disconnected", {
    grants: 0,
    syncHolds: 2,
    ownerDied: [
      { name: channelSlotName("films"), kind: "channel" },
      { name: "queue-lock", kind: "condvar" },
    ],
  });
  expect(lines.slice(1)).toEqual([
    "info client #30 'app' (pid 42, VM vm-a) held a role on channel 'films': released (its peer is told)",
    "warn condvar 'queue-lock' was held by client #30 'app' (pid 42, VM vm-a): released as owner-died (its next holder is told)",
  ]);
});

test("a refusal to a connection not yet identified as a VM says VM ?", () => {
  requestRefused(40, "", "alloc", failure("NoSpace", "allocate a segment", "the region is full"));
  expect(lines).toEqual([
    "info client #40 (VM ?): alloc refused: Failed to allocate a segment since the region is full",
  ]);
});
