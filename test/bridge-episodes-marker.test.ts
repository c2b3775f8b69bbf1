/**
 * The marker of src/host/bridge-episodes.ts, in this process (TMPDIR a directory of the test's, the log's
 * methods spied on): a marker directory others may write, or another user's, is not used (each refusal is
 * logged: such a directory could silence this user's log); an episode whose last refusal is older than
 * EPISODE_GAP_MS is over, so the next refusal starts a new one (logged) and the one after it is counted;
 * a marker whose first line is empty (no time) says no "over" duration.
 */
import { afterAll, afterEach, beforeEach, expect, spyOn, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { EPISODE_GAP_MS, noteReached, noteRefused } from "../src/host/bridge-episodes.ts";
import { log } from "../src/log.ts";
import { NOBODY, notRoot } from "./helpers/as-nobody.ts";
import { testUnless } from "./helpers/tools.ts";

const previousTmpdir = process.env.TMPDIR;
const root = mkdtempSync("/tmp/ivsh-bridge-episodes-marker-");
afterAll(() => {
  // The other test files of this run share the environment (a variable set to undefined is "undefined").
  if (previousTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = previousTmpdir;
  rmSync(root, { recursive: true, force: true });
});

let serial = 0;
let tmp = "";
let said: { level: string; text: string }[] = [];
const spies: { mockRestore(): void }[] = [];

beforeEach(() => {
  tmp = join(root, `tmp-${serial++}`);
  mkdirSync(tmp);
  process.env.TMPDIR = tmp;
  said = [];
  for (const level of ["error", "warn", "info", "debug"] as const)
    spies.push(
      spyOn(log, level).mockImplementation((...parts: unknown[]) => {
        said.push({ level, text: parts.join(" ") });
      }),
    );
});
afterEach(() => {
  for (const spy of spies.splice(0)) spy.mockRestore();
});

const socket = () => join(tmp, "arbiter.sock");
const markerDirectory = () => join(tmp, `ivsh-bridge-${process.getuid?.()}`);
const refuse = () => noteRefused(socket(), new Error("Failed to reach the arbiter"), "no arbiter");
const levels = () => said.map(({ level }) => level);

test("a marker directory others may write is not used: every refusal is an ERROR", () => {
  mkdirSync(markerDirectory(), { mode: 0o700 });
  chmodSync(markerDirectory(), 0o777);
  refuse();
  refuse();
  expect(levels()).toEqual(["error", "error"]);
  expect(said[0]!.text).not.toContain("further refusals are counted");
});

testUnless(notRoot, "another user's marker directory is not used: every refusal is an ERROR", () => {
  mkdirSync(markerDirectory(), { mode: 0o700 });
  chownSync(markerDirectory(), NOBODY, NOBODY);
  refuse();
  refuse();
  expect(levels()).toEqual(["error", "error"]);
});

test("an episode whose last refusal is older than the gap is over: the next refusal is logged, the one after counted", () => {
  refuse();
  expect(levels()).toEqual(["error"]);
  const [marker] = readdirSync(markerDirectory());
  const old = (Date.now() - 2 * EPISODE_GAP_MS) / 1000;
  utimesSync(join(markerDirectory(), marker!), old, old);
  refuse();
  refuse();
  expect(levels()).toEqual(["error", "error", "debug"]);
});

test("a marker whose first line is empty: the bridge that gets through says no 'over' duration", () => {
  refuse();
  const [marker] = readdirSync(markerDirectory());
  writeFileSync(join(markerDirectory(), marker!), "\nxx"); // the first line empty: Number("") is 0
  noteReached(socket());
  expect(said.slice(1)).toEqual([
    {
      level: "info",
      text: `the arbiter at ${socket()} accepts connections again: 3 guest connection(s) were refused since no arbiter ran there`,
    },
  ]);
});
