/**
 * A start refused for an invalid IVSH_COMPACT_AFTER_RECORDS disturbs nothing: `ivsh host` leaves no
 * --state file behind, and startArbiter, which a process embedding the arbiter calls and then goes on
 * running, leaks no descriptor (the journal's was opened before the setting was read).
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { testPaths } from "./helpers/paths.ts";
import { runCli, spawnFixture } from "./helpers/processes.ts";

const paths = testPaths("bad-setting");
afterAll(() => paths.cleanup());
const BAD = { IVSH_COMPACT_AFTER_RECORDS: "0" };

test("ivsh host refused for IVSH_COMPACT_AFTER_RECORDS=0 leaves no state file (nor region) behind", async () => {
  const { exitCode, stderr } = await runCli(
    ["host", "--region", paths.region, "--state", paths.state, "--socket", paths.socket, "--size", "1MiB"],
    BAD,
  );
  expect(stderr).toContain("Failed to use IVSH_COMPACT_AFTER_RECORDS='0' since it is not a whole number");
  expect(exitCode).toBe(1);
  expect(existsSync(paths.state)).toBe(false);
  expect(existsSync(paths.region)).toBe(false);
}, 60_000);

test("startArbiter refused for IVSH_COMPACT_AFTER_RECORDS=0, again and again, leaks no descriptor", async () => {
  const attempts = 3;
  const fixture = spawnFixture("bad-setting-start", { dir: paths.shmDir, attempts }, BAD);
  const done = await fixture.events.next("done");
  expect(await fixture.exit()).toBe(0);
  for (const refusal of [done.warmUp, ...(done.refusals as unknown[])])
    expect(refusal).toMatchObject({ code: "InvalidArgument" });
  expect(done.after).toBe(done.before);
  // Nothing of the refused starts is left in their directory either.
  expect(readdirSync(paths.shmDir)).toEqual([]);
}, 60_000);
