/**
 * How the arbiter logs a session's end (src/host/oplog.ts sessionEnded), called directly with the log
 * spied on: a lost lease is a warning (it shows under -q); a goodbye recorded only after a journal outage
 * is said at info with that note even for a session that asked for nothing (otherwise a debug line).
 */
import { afterEach, expect, spyOn, test } from "bun:test";
import { sessionEnded, sessionStarted } from "../src/host/oplog.ts";
import { log } from "../src/log.ts";

const spies: { mockRestore(): void }[] = [];
afterEach(() => {
  for (const spy of spies.splice(0)) spy.mockRestore();
});

function spied() {
  const lines = { warn: [] as string[], info: [] as string[], debug: [] as string[] };
  for (const level of ["warn", "info", "debug"] as const)
    spies.push(spyOn(log, level).mockImplementation((...parts) => void lines[level].push(parts.join(" "))));
  return lines;
}

const nothing = { grants: 0, syncHolds: 0, ownerDied: [] };
let nextId = 1;
const session = () => ({ clientId: nextId++, name: "ender", pid: 1, vm: "host" });

test("a lost lease is logged as a warning", () => {
  const lines = spied();
  sessionEnded(session(), "lease expired", { ...nothing, grants: 1 });
  expect(lines.warn).toEqual([expect.stringMatching(/lost its lease: released 1 grant/)]);
  expect(lines.info).toEqual([]);
});

test("a goodbye recorded late is said at info with its note, even from a session that asked for nothing", () => {
  const lines = spied();
  const quiet = session();
  sessionStarted(quiet, false);
  sessionEnded(quiet, "said goodbye", nothing, true);
  expect(lines.info.some((line) => /said goodbye \(recorded only now/.test(line))).toBe(true);
  // The same without the outage: a monitor's status-only session, at debug only.
  const monitor = session();
  sessionStarted(monitor, false);
  sessionEnded(monitor, "said goodbye", nothing);
  expect(lines.info.filter((line) => line.includes(`#${monitor.clientId} `))).toEqual([]);
});
