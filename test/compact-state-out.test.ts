/**
 * `ivsh compact-state` (the arbiter's hidden helper) given an --out that is its --state journal: the
 * snapshot was written over the journal it was reading (opened "w": emptied first), and the journal was
 * lost. The same file named another way (./FILE, a symlink, a hard link) is the same journal. It is now
 * refused before anything is opened, as a usage error, and the journal is left as it was.
 */
import { afterAll, beforeAll, beforeEach, expect, test } from "bun:test";
import { existsSync, linkSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";

let paths: TestPaths;
let journal: string;

beforeAll(async () => {
  paths = testPaths("compact-out");
  // A real journal, which a snapshot makes shorter: an arbiter's, whose segments were allocated and freed.
  const arbiter = await ArbiterProcess.start(paths, { size: "1MiB" });
  const client = await connect({ socket: paths.socket, region: paths.region, name: "appender" });
  for (let round = 0; round < 4; round++) await (await client.alloc(4096)).free();
  await client.close();
  await arbiter.stop();
  journal = readFileSync(paths.state, "utf8");
  symlinkSync(paths.state, join(paths.dir, "state-link"));
  linkSync(paths.state, join(paths.dir, "state-hard"));
});
afterAll(() => paths?.cleanup());
// Each case starts from the whole journal (written in place: the hard link stays one), whatever the last did.
beforeEach(() => writeFileSync(paths.state, journal));

/** The helper run as the arbiter runs it: this process is its parent, named in --arbiter (unless `arbiter`). */
async function compactInto(out: string, cwd = paths.dir, arbiter = process.pid) {
  const upto = statSync(paths.state).size;
  const helper = tracked(
    Bun.spawn(
      [
        ...[process.execPath, CLI, "compact-state", "--state", paths.state, "--upto", String(upto)],
        ...["--arbiter", String(arbiter), "--out", out],
      ],
      { cwd, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } },
    ),
  );
  const stderr = new Response(helper.stderr).text();
  const code = await exitOrKill(helper, 30_000);
  return { code, stderr: await stderr };
}

for (const [label, out] of [
  ["the same path", () => paths.state],
  ["./ and its name", () => `./${basename(paths.state)}`],
  ["a symlink to it", () => join(paths.dir, "state-link")],
  ["a hard link to it", () => join(paths.dir, "state-hard")],
] as const)
  test(`compact-state --out naming its --state (${label}) is refused, the journal untouched`, async () => {
    const { code, stderr } = await compactInto(out(), dirname(paths.state));
    expect(readFileSync(paths.state, "utf8")).toBe(journal);
    expect({ code, stderr }).toEqual({
      code: 2,
      stderr: expect.stringContaining(`Failed to use --out ${out()} since it is the --state journal itself`),
    });
  }, 60_000);

test("compact-state --out a new file beside its --state writes the snapshot there", async () => {
  const out = join(paths.dir, "snapshot");
  const { code, stderr } = await compactInto(out);
  expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
  const snapshot = readFileSync(out, "utf8");
  expect(snapshot).toStartWith('{"t":"begin"');
  expect(snapshot.length).toBeLessThan(journal.length);
  expect(readFileSync(paths.state, "utf8")).toBe(journal);
}, 60_000);

test("compact-state --out an existing file beside its --state (an earlier run's) writes over it, not refused as the journal", async () => {
  const out = join(paths.dir, "left-snapshot");
  writeFileSync(out, "an earlier helper's half-written snapshot\n");
  const { code, stderr } = await compactInto(out);
  expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
  expect(readFileSync(out, "utf8")).toStartWith('{"t":"begin"');
}, 60_000);

test("compact-state run by a process other than the --arbiter it names is refused: said not started by it, or gone", async () => {
  const gone = Bun.spawn(["true"]);
  await gone.exited;
  // pid 1 is alive and not our parent; `true` has exited (its pid not reused within the test).
  for (const [arbiter, said] of [
    [1, "pid 1 did not start it"],
    [gone.pid, `the arbiter that asked (pid ${gone.pid}) is gone`],
  ] as const) {
    const out = join(paths.dir, `not-asked-${arbiter}`);
    const { code, stderr } = await compactInto(out, paths.dir, arbiter);
    expect({ code, stderr }).toEqual({
      code: 1,
      stderr: expect.stringContaining(`Failed to compact the state journal since ${said}`),
    });
    expect(existsSync(out)).toBe(false);
  }
}, 60_000);
