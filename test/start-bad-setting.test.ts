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
  // Refused before anything is opened: a usage error (exit 2), as a bad flag's value or IVSH_CONNECT is.
  expect(exitCode).toBe(2);
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
    expect(exitCode).toBe(2);
    expect(readFileSync(existing.state, "utf8")).toBe(state);
    expect(readFileSync(existing.region).equals(region)).toBe(true);
  } finally {
    existing.cleanup();
  }
}, 60_000);

// "abc" exited 1, as a failed operation does: a setting that is not one is the command line's fault.
test("ivsh host with IVSH_HANDOVER_TTL_MS=abc is a usage error naming the variable and what it takes", async () => {
  const own = testPaths("bad-ttl-word");
  try {
    const { exitCode, stderr } = await runCli(
      ["host", "--region", own.region, "--state", own.state, "--socket", own.socket, "--size", "1MiB"],
      { IVSH_HANDOVER_TTL_MS: "abc", NO_COLOR: "1" },
    );
    expect({ exitCode, stderr }).toEqual({
      exitCode: 2,
      stderr:
        '[ivsh] ERROR Failed to use IVSH_HANDOVER_TTL_MS="abc" since it must be a whole number of milliseconds, at least 1 (unset, it is 30000)\n' +
        "Run 'ivsh host --help' to see the options.\n",
    });
    expect(existsSync(own.state)).toBe(false);
    expect(existsSync(own.region)).toBe(false);
  } finally {
    own.cleanup();
  }
}, 60_000);

// An empty setting (`IVSH_HANDOVER_TTL_MS= ivsh host`, or a unit file's `Environment=IVSH_HANDOVER_TTL_MS=`)
// was refused, where an empty IVSH_COMPACT_AFTER_RECORDS is its default: both mean unset now.
test("ivsh host with IVSH_HANDOVER_TTL_MS and IVSH_COMPACT_AFTER_RECORDS set empty starts with their defaults", async () => {
  const own = testPaths("empty-settings");
  try {
    const env = { IVSH_HANDOVER_TTL_MS: "", IVSH_COMPACT_AFTER_RECORDS: "" };
    const arbiter = await ArbiterProcess.start(own, { size: "1MiB", env });
    await arbiter.stop();
    expect(existsSync(own.state)).toBe(true);
  } finally {
    own.cleanup();
  }
}, 60_000);
