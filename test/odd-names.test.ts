/**
 * Names are the callers' (a guest's too) and may hold any character but half a surrogate pair: what
 * shows them to the operator must not let them drive the terminal or forge lines (found by a trial:
 * `ivsh status` printed a segment named "\x1b]0;...\x07" or "...\n  client #1 ..." as it was).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, runCli } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("odd-names");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("status shows names with control characters escaped, each object on its own one line", async () => {
  const client = await connect({
    socket: paths.socket,
    region: paths.region,
    name: "odd\x1b[31mred\nclient #999 forged pid 1 vm host",
  });
  await client.alloc(10, { name: "seg\x1b]0;title\x07\u0000nul\rcr\u2028ls\x9bcsi" });
  await client.mutex("lock\nslot 99 mutex 'forged': held by nobody");
  const status = await runCli(["status", "--socket", paths.socket]);
  expect(status.exitCode).toBe(0);
  // Nothing but the line ends is a control character: no escape sequence reaches the terminal.
  expect(status.stdout.replaceAll("\n", "")).not.toMatch(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/);
  expect(status.stdout).not.toMatch(/^\s*client #999/m);
  expect(status.stdout).not.toMatch(/^\s*slot 99/m);
  expect(status.stdout).toContain("segment #");
  expect(status.stdout).toContain(String.raw`seg\x1b]0;title\x07\x00nul\rcr\u2028ls\x9bcsi`);
  expect(status.stdout).toContain(String.raw`mutex 'lock\nslot 99 mutex 'forged': held by nobody'`);
  await client.close();
});

// Unicode's bidirectional formatting characters are controls too: a terminal that lays out bidi text (VTE,
// Konsole, mlterm) shows everything after a name holding U+202E (RIGHT-TO-LEFT OVERRIDE) reversed, so a
// guest's segment named "\u202E..." could make the operator read its line, holders and all, as it chose.
test("status escapes bidirectional formatting characters in names", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region, name: "bidi\u202eclient" });
  await client.alloc(10, { name: "rlo\u202e lre\u202a lri\u2066 pdi\u2069 lrm\u200e alm\u061c" });
  const status = await runCli(["status", "--socket", paths.socket]);
  expect(status.exitCode).toBe(0);
  expect(status.stdout).not.toMatch(/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/);
  expect(status.stdout).toContain(String.raw`rlo\u202e lre\u202a lri\u2066 pdi\u2069 lrm\u200e alm\u061c`);
  expect(status.stdout).toContain(String.raw`bidi\u202eclient`);
  await client.close();
});
