/**
 * A start refused for an invalid IVSH_COMPACT_AFTER_RECORDS (or IVSH_HANDOVER_TTL_MS) disturbs nothing:
 * `ivsh host` leaves no --state file behind, nor rewrites one that was there, and startArbiter, which a
 * process embedding the arbiter calls and then goes on running, leaks no descriptor (the journal's was
 * opened before the setting was read).
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, runCli, spawnFixture } from "./helpers/processes.ts";

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

// IVSH_HANDOVER_TTL_MS, the arbiter's other setting that refuses a start, was read only when it listened:
// after the region had been re-headed (its epoch bumped) and the --state rewritten as a snapshot of a new
// epoch, which a start that fails must not do.
test("ivsh host refused for IVSH_HANDOVER_TTL_MS=0 leaves an existing region and --state as they were", async () => {
  const existing = testPaths("bad-ttl");
  try {
    const arbiter = await ArbiterProcess.start(existing, { size: "1MiB" });
    await arbiter.stop();
    const [region, state] = [readFileSync(existing.region), readFileSync(existing.state, "utf8")];
    const { exitCode, stderr } = await runCli(
      ["host", "--region", existing.region, "--state", existing.state, "--socket", existing.socket],
      { IVSH_HANDOVER_TTL_MS: "0" },
    );
    expect(stderr).toContain('Failed to use IVSH_HANDOVER_TTL_MS="0" since it must be a whole number');
    expect(exitCode).toBe(1);
    expect(readFileSync(existing.state, "utf8")).toBe(state);
    expect(readFileSync(existing.region).equals(region)).toBe(true);
  } finally {
    existing.cleanup();
  }
}, 60_000);
