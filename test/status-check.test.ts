/**
 * `ivsh status --check`: a monitor's way to learn that the arbiter needs the operator without parsing
 * anything. `ivsh status` exits 0 whenever the arbiter answered, problems or not (scripts rely on that:
 * exit 0 is "it answered"); with --check the same report comes out, and an answer that names problems or a
 * journal outage exits 3 with each on stderr, apart from 1 (no answer) and 2 (a wrong command line).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { smallJournals, untilRefused } from "./helpers/full-journal.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, livenessBoundMs, runCli } from "./helpers/processes.ts";
import { cannotMount } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("status-check");
  // A 1 s lease sweeps every 250 ms: the removal is found within a few sweeps.
  arbiter = await ArbiterProcess.start(paths, { lease: "1s" });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

const check = (socket: string, ...more: string[]) =>
  runCli(["status", "--check", "--limit", "0", "--socket", socket, ...more]);

test("a healthy arbiter: --check exits 0, says nothing on stderr, prints the report as without it", async () => {
  const checked = await check(paths.socket);
  expect([checked.exitCode, checked.stderr]).toEqual([0, ""]);
  expect(checked.stdout).toMatch(/^arbiter pid \d+/);
  const json = await check(paths.socket, "--json");
  expect(json.exitCode).toBe(0);
  expect(JSON.parse(json.stdout)).not.toHaveProperty("problems");
});

test("no arbiter there: --check exits 1, as without it, not 3", async () => {
  const checked = await check(join(paths.dir, "nobody.sock"));
  expect(checked.exitCode).toBe(1);
  expect(checked.stderr).toContain("Failed to connect to the arbiter");
});

test("an arbiter with a problem: exit 0 without --check, 3 with it and the problem on stderr", async () => {
  rmSync(paths.region);
  const wanted = `the region file ${paths.region} was removed or replaced while the arbiter ran`;
  let plain = await runCli(["status", "--limit", "0", "--socket", paths.socket]);
  await eventually(
    async () => {
      plain = await runCli(["status", "--limit", "0", "--socket", paths.socket]);
      return plain.stdout.includes(wanted);
    },
    livenessBoundMs(1000),
    "status to name the region file's removal",
  );
  // Scripts that take exit 0 for "the arbiter answered" are left as they were.
  expect(plain.exitCode).toBe(0);
  const checked = await check(paths.socket);
  expect(checked.exitCode).toBe(3);
  expect(checked.stdout).toContain(`PROBLEM: ${wanted}`);
  expect(checked.stderr).toContain(`PROBLEM: ${wanted}`);
  expect(checked.stderr.trim().split("\n")).toHaveLength(1);
  const json = await check(paths.socket, "--json");
  expect(json.exitCode).toBe(3);
  expect(JSON.parse(json.stdout).problems).toEqual([expect.stringContaining(wanted)]);
  expect(json.stderr).toContain(`PROBLEM: ${wanted}`);
}, 60_000);

const withSmallJournal = smallJournals("status-check-journal");

testUnless(
  cannotMount,
  "a journal that refuses changes: --check exits 3 and says so on stderr; 0 once it records again",
  () =>
    withSmallJournal("full", async (journal) => {
      const client = await journal.connect("changer");
      journal.fill();
      expect(await untilRefused(client)).toBe("JournalFull");
      const checked = await check(journal.own.socket);
      expect(checked.exitCode).toBe(3);
      expect(checked.stderr).toMatch(
        /state journal: REFUSING CHANGES for \d+ s \(\d+ refused\): Failed to record a change in the state journal/,
      );
      journal.roomBack();
      await client.mutex("after-room").then((mutex) => mutex.close());
      const after = await check(journal.own.socket);
      expect([after.exitCode, after.stderr]).toEqual([0, ""]);
    }),
  60_000,
);
