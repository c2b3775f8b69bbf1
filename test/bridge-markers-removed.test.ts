/**
 * The markers of src/host/bridge-episodes.ts ($TMPDIR/ivsh-bridge-UID/, one per arbiter socket and kind of
 * refusal): one whose episode nobody ended (its arbiter gone for good, a test's socket) stayed for ever, and
 * the directory grew by one per such socket (283 on a dev machine). A bridge starting an episode now removes
 * the markers untouched for MARKER_KEPT_MS, looking at no more than PRUNE_SCAN_LIMIT entries; a refusal
 * only counted (an episode under way) looks at none. Real bridge processes, refused: no arbiter runs on
 * their sockets; the markers' ages are set with utimes.
 */
import { afterAll, beforeEach, expect, test } from "bun:test";
import { mkdirSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { MARKER_KEPT_MS, PRUNE_SCAN_LIMIT } from "../src/host/bridge-episodes.ts";
import { bridgeTry } from "./helpers/bridge-try.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";

let paths: TestPaths;
let markers = "";
let serial = 0;

beforeEach(() => {
  paths?.cleanup();
  paths = testPaths("lo13-markers");
  markers = join(paths.dir, `ivsh-bridge-${process.getuid?.()}`);
  mkdirSync(markers, { mode: 0o700 });
});
afterAll(() => paths?.cleanup());

/** A refused bridge's try on `socket` (no arbiter there); its stderr. */
async function refusedBridge(socket: string): Promise<string> {
  const { code, stderr } = await bridgeTry(socket, paths.dir, "lo13-vm");
  expect(code).toBe(1);
  return stderr;
}

/** A socket path of its own (no arbiter on it): a new episode. */
const newSocket = () => join(paths.dir, `gone-${serial++}.sock`);

/** Writes a file named `name` in the marker directory, last touched `ageMs` ago. */
function aged(name: string, ageMs: number): string {
  const path = join(markers, name);
  writeFileSync(path, `${Date.now() - ageMs}\nxx`);
  const when = (Date.now() - ageMs) / 1000;
  utimesSync(path, when, when);
  return name;
}

const HOUR_MS = 3600_000;
const markerName = (n: number) => n.toString(16).padStart(32, "0");

test("a bridge starting an episode removes the markers untouched for a day, and only those", async () => {
  const old = aged(markerName(1), MARKER_KEPT_MS + HOUR_MS);
  const young = aged(markerName(2), MARKER_KEPT_MS - HOUR_MS);
  const notOurs = aged("notes", MARKER_KEPT_MS + HOUR_MS); // no marker's name: not this code's to remove
  expect(await refusedBridge(newSocket())).toContain("ERROR Failed to reach the arbiter for VM 'lo13-vm'");
  const left = readdirSync(markers);
  // Before: the old marker stayed (4 entries).
  expect(left).toHaveLength(3); // the new episode's own marker besides these
  expect(left).toEqual(expect.arrayContaining([young, notOurs]));
  expect(left).not.toContain(old);
});

test("a refusal counted in an episode under way looks at no other marker", async () => {
  const socket = newSocket();
  await refusedBridge(socket);
  const old = aged(markerName(3), MARKER_KEPT_MS + HOUR_MS);
  expect(await refusedBridge(socket)).toBe(""); // counted, not logged
  expect(readdirSync(markers)).toContain(old);
  await refusedBridge(newSocket()); // the next episode's start removes it
  expect(readdirSync(markers)).not.toContain(old);
});

test("an episode's start looks at no more than PRUNE_SCAN_LIMIT entries; the next removes the rest", async () => {
  const count = PRUNE_SCAN_LIMIT + 500;
  for (let n = 1; n <= count; n++) aged(markerName(n), MARKER_KEPT_MS + HOUR_MS);
  const oldLeft = () => readdirSync(markers).filter((name) => BigInt(`0x${name}`) <= BigInt(count)).length;
  await refusedBridge(newSocket());
  // The new episode's own marker may be among the entries looked at.
  expect(oldLeft()).toBeGreaterThanOrEqual(500);
  expect(oldLeft()).toBeLessThanOrEqual(501);
  await refusedBridge(newSocket());
  expect({ oldLeft: oldLeft(), markers: readdirSync(markers).length }).toEqual({ oldLeft: 0, markers: 2 });
});

test("young markers first in the directory's order do not keep old ones after them from being removed", async () => {
  const young = Array.from({ length: PRUNE_SCAN_LIMIT + 500 }, (_, n) => markerName(0x10000 + n));
  for (const name of young) aged(name, MARKER_KEPT_MS - HOUR_MS);
  const old = Array.from({ length: 10 }, (_, n) => aged(markerName(0x20000 + n), MARKER_KEPT_MS + HOUR_MS));
  const oldLeft = () => old.filter((path) => readdirSync(markers).includes(basename(path)));
  // Each start looks at PRUNE_SCAN_LIMIT of the markers from a random one on: an old one is missed by all
  // of 20 starts with a chance of (1/3)^20. Before: the same first PRUNE_SCAN_LIMIT in readdir's order each
  // time, and the old ones after them stayed for ever.
  for (let start = 0; start < 20 && oldLeft().length > 0; start++) await refusedBridge(newSocket());
  expect(oldLeft()).toEqual([]);
});
