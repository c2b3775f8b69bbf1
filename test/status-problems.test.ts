/**
 * `ivsh status` names what the operator must mend while the arbiter serves on: its region file, socket or
 * state journal removed under it. Only the log said so (the socket's removal not even that), and a monitor
 * polling `ivsh status --json` was told all was well while no new client could reach the arbiter.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { type Client, connect } from "../src/guest/index.ts";
import { handoverPath } from "../src/host/handover.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, eventually, livenessBoundMs, runCli } from "./helpers/processes.ts";
import { directoryFreezer, testUnless } from "./helpers/tools.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let client: Client;

beforeEach(async () => {
  paths = testPaths("status-problems");
  // A 1 s lease sweeps every 250 ms: each removal is found within a few sweeps.
  arbiter = await ArbiterProcess.start(paths, { lease: "1s" });
  client = await connect({ ...clientConfig(paths), name: "monitor" });
});
afterEach(async () => {
  await client?.close();
  await arbiter?.stop();
  paths?.cleanup();
});

/** The problems a connected client's status names, once one that contains `wanted` is among them. */
async function problemsOnce(wanted: string): Promise<string[]> {
  let problems: string[] = [];
  await eventually(
    async () => {
      problems = (await client.status(0)).problems ?? [];
      return problems.some((problem) => problem.includes(wanted));
    },
    livenessBoundMs(1000),
    `status to name '${wanted}'`,
  );
  return problems;
}

test("a healthy arbiter's status has no problems", async () => {
  const result = await runCli(["status", "--json", "--limit", "0", "--socket", paths.socket]);
  expect(result.exitCode).toBe(0);
  expect(JSON.parse(result.stdout)).not.toHaveProperty("problems");
});

test("the region file removed under the arbiter: status --json and the text name it, and what to do", async () => {
  rmSync(paths.region);
  const wanted = `the region file ${paths.region} was removed or replaced while the arbiter ran`;
  expect(await problemsOnce(wanted)).toEqual([
    `${wanted}: clients already connected go on, new ones cannot reach this region (if it was moved, move it back; else stop the arbiter and start it again, which loses what its clients allocated)`,
  ]);
  const json = await runCli(["status", "--json", "--limit", "0", "--socket", paths.socket]);
  expect(json.exitCode).toBe(0);
  expect(JSON.parse(json.stdout).problems).toEqual([expect.stringContaining(wanted)]);
  const text = await runCli(["status", "--limit", "0", "--socket", paths.socket]);
  expect(text.stdout).toContain(`PROBLEM: ${wanted}`);
  await arbiter.stop();
  const stderr = await arbiter.spawned.stderr;
  // Said once in the log, not at every sweep.
  expect(stderr.split(wanted).length - 1).toBe(1);
  // Not "allocations and sessions stay in STATE for the next start": that start makes a new region file.
  expect(stderr).toContain(
    `stopped on SIGTERM; no region file is at ${paths.region} any more (removed or moved away while the arbiter ` +
      `ran), so the next start makes a new one and discards the allocations in ${paths.state}: if it was moved, ` +
      "put it back first",
  );
}, 60_000);

test("the region file replaced by another under the arbiter: the stop does not say the next start resumes", async () => {
  // Another file of the region's size: a next start resumes the journal's allocations on it, over contents
  // that are not theirs, so "allocations and sessions stay in STATE for the next start" misled.
  writeFileSync(`${paths.region}.other`, Buffer.alloc(statSync(paths.region).size));
  renameSync(`${paths.region}.other`, paths.region);
  await problemsOnce(`the region file ${paths.region} was removed or replaced while the arbiter ran`);
  await arbiter.stop();
  const stderr = await arbiter.spawned.stderr;
  expect(stderr).not.toContain(`allocations and sessions stay in ${paths.state} for the next start`);
  expect(stderr).toContain(
    `stopped on SIGTERM; the file at ${paths.region} is not the region file this arbiter served (replaced while ` +
      `it ran), so the allocations in ${paths.state} describe contents it does not hold: put the file served ` +
      `back at ${paths.region} before the next start if it was moved, else remove ${paths.state} (its allocations are lost)`,
  );
}, 60_000);

test("the socket removed under the arbiter: logged as an ERROR and named by a connected client's status", async () => {
  rmSync(paths.socket);
  const wanted = `the socket ${paths.socket} was removed or replaced while the arbiter ran`;
  expect(await problemsOnce(wanted)).toEqual([
    `${wanted}: clients already connected go on, new ones cannot connect to this arbiter (if it was moved, move it back; else stop the arbiter and start it again)`,
  ]);
  await Bun.sleep(1500); // sweeps that find it still gone (one each 250 ms), for the count below to judge
  await arbiter.stop();
  const stderr = await arbiter.spawned.stderr;
  expect(stderr).toContain(`ERROR ${wanted}`);
  expect(stderr.split(wanted).length - 1).toBe(1);
}, 60_000);

test("the region file and socket renamed away and back: named while away, no longer once back", async () => {
  // An operator's mistaken `mv`, undone: the files served are at their paths again, and a status that
  // still named them (and STATUS=PROBLEM under systemd) would be a false alarm for as long as the arbiter ran.
  renameSync(paths.region, `${paths.region}.away`);
  renameSync(paths.socket, `${paths.socket}.away`);
  await eventually(
    async () => ((await client.status(0)).problems ?? []).length === 2,
    livenessBoundMs(1000),
    "status to name the region file and the socket",
  );
  renameSync(`${paths.region}.away`, paths.region);
  renameSync(`${paths.socket}.away`, paths.socket);
  let problems: string[] | undefined = [];
  await eventually(
    async () => {
      problems = (await client.status(0)).problems;
      return problems === undefined;
    },
    livenessBoundMs(1000),
    "status to name no problem once both are back",
  ).catch((error: Error) => {
    throw new Error(`${error.message}; it still named: ${JSON.stringify(problems)}`);
  });
  const json = await runCli(["status", "--json", "--limit", "0", "--socket", paths.socket]);
  expect(json.exitCode).toBe(0);
  expect(JSON.parse(json.stdout)).not.toHaveProperty("problems");
  await Bun.sleep(1500); // sweeps (one each 250 ms) that find both still back, for the count below to judge
  await arbiter.stop();
  const stderr = await arbiter.spawned.stderr;
  expect(stderr).toContain(`the region file ${paths.region} is back: new clients reach this region again`);
  expect(stderr).toContain(`the socket ${paths.socket} is back: new clients can connect again`);
  // Each said once, not at every sweep while all is well (mutation round 29).
  expect(stderr.split(" is back: ").length - 1).toBe(2);
  expect(stderr).toContain(`allocations and sessions stay in ${paths.state} for the next start`);
}, 60_000);

/**
 * The hand-over socket beside --socket removed (a clean-up of /tmp, an `rm` of SOCKET.*): every new guest
 * connection's bridge then relays it for its whole life (a Bun process of ~40 MiB each) instead of handing it
 * over, and said so only on its own stderr (QEMU's); the arbiter, its log and its status said nothing.
 */
test("the hand-over socket removed under the arbiter: named as a problem, no longer once put back", async () => {
  const handover = handoverPath(paths.socket);
  renameSync(handover, `${handover}.away`);
  const wanted = `the hand-over socket ${handover} was removed or replaced while the arbiter ran`;
  expect(await problemsOnce(wanted)).toEqual([
    `${wanted}: guest connections still reach the arbiter, but each new one's bridge relays it for its whole ` +
      "life (a process of ~40 MiB each) instead of handing it over; no bridge has come since the arbiter " +
      "started, and where bridges relay by choice (IVSH_BRIDGE=relay) nothing is lost (if it was moved, move " +
      "it back; else stop the arbiter and start it again)",
  ]);
  renameSync(`${handover}.away`, handover);
  await eventually(
    async () => (await client.status(0)).problems === undefined,
    livenessBoundMs(1000),
    "status to name no problem once the hand-over socket is back",
  );
  await arbiter.stop();
  const stderr = await arbiter.spawned.stderr;
  expect(stderr).toContain(`ERROR ${wanted}`);
  expect(stderr.split(wanted).length - 1).toBe(1);
  expect(stderr).toContain(
    `the hand-over socket ${handover} is back: bridges hand guest connections over again`,
  );
}, 60_000);

const freezer = directoryFreezer();

// Skipped with its reason printed, never silently (as every test that needs something of the machine).
testUnless(
  freezer ? undefined : "no way to make a directory refuse changes here (neither chmod nor chattr +i)",
  "the state journal removed where it cannot be written again: named until it is, then no longer",
  async () => {
    rmSync(paths.state);
    freezer!.freeze(paths.dir);
    try {
      const wanted = `the state journal ${paths.state} was removed or replaced while the arbiter ran and cannot be written again`;
      expect(await problemsOnce(wanted)).toEqual([expect.stringContaining("a restart now would discard")]);
      await Bun.sleep(1500); // sweeps that retry, and fail, for the count below to judge
    } finally {
      freezer!.thaw(paths.dir);
    }
    await eventually(
      async () => (await client.status(0)).problems === undefined,
      livenessBoundMs(1000),
      "the journal written again",
    );
    await arbiter.stop();
    // Said once while it lasted, not at each sweep's retry (mutation round 29).
    expect((await arbiter.spawned.stderr).split("cannot be written again").length - 1).toBe(1);
  },
  60_000,
);
