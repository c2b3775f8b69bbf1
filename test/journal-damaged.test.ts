/**
 * State journals damaged, hand-edited or written by another version of ivsh: a start refuses in one line
 * naming the file, what is wrong and what to do; it never crashes with a stack, and never resumes having
 * silently skipped a record (the segment it described would be lost, its blocks handed out again).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { parseStateLines } from "../src/host/state-read.ts";
import { expectFailure } from "./helpers/errors.ts";
import { expectOneLine } from "./helpers/host-run.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, spawnBun } from "./helpers/processes.ts";

let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("journal-damaged");
});
afterAll(() => paths?.cleanup());

function files(label: string): { region: string; socket: string; state: string } {
  return {
    region: join(paths.shmDir, `${label}.region`),
    socket: join(paths.dir, `${label}.sock`),
    state: join(paths.dir, `${label}.state`),
  };
}

/**
 * `ivsh host` on these files, run until it exits (one that serves after all is killed, failing the test);
 * `flags` false: none, the state's geometry.
 */
async function hostOn(own: { region: string; socket: string; state: string }, flags = true) {
  const geometry = flags ? ["--size", "16MiB", "--block-size", "64KiB", "--slots", "64"] : [];
  const host = spawnBun([
    CLI,
    "host",
    "--region",
    own.region,
    "--socket",
    own.socket,
    "--state",
    own.state,
    ...geometry,
  ]);
  const exitCode = await host.exit();
  return { exitCode, stderr: await host.stderr };
}

/** A journal of an arbiter that allocated one segment and was killed, and its files. */
async function journalWithSegment(label: string) {
  const own = files(label);
  const host = await ArbiterProcess.start({ ...paths, ...own }, { size: "16MiB" });
  const client = await connect({ socket: own.socket, region: own.region, name: label });
  await client.alloc(4096, { name: "kept" });
  await host.kill9();
  await client.close().catch(() => undefined);
  return own;
}

test("a line that is JSON but no record (null, a number, an unknown type) is refused naming its line, not skipped", async () => {
  const misspelt = { t: "segmnet", id: 7, name: "", firstBlock: 9, blockCount: 1, bytes: 1, creator: 1 };
  for (const [label, line, why] of [
    ["null-line", "null", "is not a state record"],
    ["number-line", "7", "is not a state record"],
    ["unknown-line", JSON.stringify(misspelt), "is a record of an unknown type 'segmnet'"],
  ] as const) {
    const own = await journalWithSegment(label);
    const lines = readFileSync(own.state, "utf8").split("\n");
    lines.splice(1, 0, line);
    writeFileSync(own.state, lines.join("\n"));
    const restart = await hostOn(own);
    expect(restart.exitCode).toBe(1);
    expectOneLine(restart.stderr, `Failed to read ${own.state} since line 2 ${why}`);
  }
}, 60_000);

test("a state file of another format, or a 'begin' record without its region: refused in one line saying what to do", async () => {
  const own = files("format");
  const region = own.region;
  const cases: [string, Record<string, unknown>, boolean, string][] = [
    // A newer ivsh's first record, with fields this one does not know; with the flags and without.
    [
      "newer",
      { t: "begin", format: 2, regionPath: region, layout: {} },
      true,
      "its format is 2, but this ivsh",
    ],
    ["newer, no flags", { t: "begin", format: 2, geometry: { blockSize: 1000 } }, false, "its format is 2"],
    ["newer, same fields", { t: "begin", format: 2, region, geometry: {} }, true, "its format is 2"],
    ["no region", { t: "begin", format: 1 }, true, "its 'begin' record has no region or geometry"],
  ];
  for (const [label, begin, flags, why] of cases) {
    writeFileSync(own.state, `${JSON.stringify(begin)}\n`);
    writeFileSync(region, "");
    const restart = await hostOn(own, flags);
    expect(`${label}: ${restart.exitCode}`).toBe(`${label}: 1`);
    expectOneLine(restart.stderr, `Failed to read ${own.state} since ${why}`);
    // Not rewritten: a newer ivsh can still resume from it.
    expect(readFileSync(own.state, "utf8")).toBe(`${JSON.stringify(begin)}\n`);
  }
}, 60_000);

test("a record that cannot be replayed is named by its line, which change headers do not shift", async () => {
  const own = await journalWithSegment("replay-line");
  const text = readFileSync(own.state, "utf8");
  // A segment past the region's end, as a damaged (or hand-edited) journal may hold, after a change of
  // several records (an alloc: its header line, segment, grant and reply).
  const bad = { t: "segment", id: 99, name: "", firstBlock: 99_999, blockCount: 16, bytes: 1, creator: 1 };
  const withChange = `${text}{"t":"tx","n":2}\n{"t":"epoch","epoch":5}\n{"t":"epoch","epoch":6}\n`;
  writeFileSync(own.state, `${withChange}${JSON.stringify(bad)}\n`);
  const line = withChange.split("\n").length;
  const restart = await hostOn(own);
  expect(restart.exitCode).toBe(1);
  expectOneLine(restart.stderr, `Failed to resume from ${own.state} since its record on line ${line} cannot`);
}, 60_000);

test("a line that is not JSON before the last is refused naming its line, not skipped as a torn tail", async () => {
  const own = await journalWithSegment("garbled-middle");
  const lines = readFileSync(own.state, "utf8").split("\n");
  // Half a record in the middle is damage, not kill -9 cutting the last write short: skipping it would
  // resume with whatever it recorded lost.
  lines.splice(1, 0, '{"t":"segment","id":');
  writeFileSync(own.state, lines.join("\n"));
  const restart = await hostOn(own);
  expect(restart.exitCode).toBe(1);
  expectOneLine(restart.stderr, `Failed to read ${own.state} since line 2 is not a JSON record`);
  // Removing it is not the only way out, and it costs every allocation: said as the other damage is.
  expect(restart.stderr).toContain(
    "the file is damaged (restore it, or remove it to start empty: its allocations are lost)",
  );
}, 60_000);

// Found by a trial: `--state /etc/passwd`-like text (a mistyped --state) was called "damaged", with
// "remove it" as the way out: line 1 not JSON means it may be no journal at all, as a file without a
// 'begin' record is said to be.
test("a file whose first line is not JSON is said to be perhaps no state file, with --state to fix first", () => {
  expectFailure(
    () => parseStateLines("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1\n", "/etc/not-a-journal"),
    "StateInvalid",
    /^Failed to read \/etc\/not-a-journal since line 1 is not a JSON record \(not an ivsh state file\?\): pass another --state, or, if it is this arbiter's journal, restore it or remove it to start empty/,
  );
});
