/**
 * The figures of `ivsh status --json` that its other tests pass over: a lock's owner-died flag, a client's
 * grants, the requesting VM's client count, and which sessions are connected (one kept for its client to
 * resume after a restart is not). Real processes: an arbiter, a lock holder killed, raw and library clients.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, runCli, spawnFixture } from "./helpers/processes.ts";
import { rawClient } from "./helpers/raw.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("mut8-status-counts");
  arbiter = await ArbiterProcess.start(paths, { lease: "60s" });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

async function status() {
  const { stdout, exitCode } = await runCli([
    "status",
    "--socket",
    paths.socket,
    "--region",
    paths.region,
    "--json",
  ]);
  expect(exitCode).toBe(0);
  return JSON.parse(stdout);
}

test("a lock whose holder died says ownerDied; a client's grants and the requester's VM's clients are counted", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region, name: "counted" });
  try {
    await client.alloc(4096, { name: "counted-1" });
    await client.alloc(4096, { name: "counted-2" });
    const mutex = await client.mutex("counted-lock"); // kept open: the slot outlives its dead holder
    const holder = spawnFixture("holder", clientConfig(paths, { segment: "held", mutex: "counted-lock" }));
    const { clientId } = await holder.events.next("holding");
    holder.proc.kill("SIGKILL");
    await holder.proc.exited;
    let report = await status();
    while (report.clients.some((each: { clientId: number }) => each.clientId === clientId)) {
      await Bun.sleep(20);
      report = await status();
    }
    const lock = report.sync.find((object: { name: string }) => object.name === "counted-lock");
    expect([lock.lockOwner, lock.ownerDied]).toEqual([0, true]);
    const counted = report.clients.find((each: { clientId: number }) => each.clientId === client.clientId);
    expect(counted.grants).toBe(2);
    expect(report.requester.vmClients).toBe(2); // this client and the status command's own
    await mutex.close();
  } finally {
    await client.close();
  }
}, 60_000);

test("a session kept through a restart for its client to resume is listed, not counted as connected", async () => {
  const raw = await rawClient(paths.socket);
  const { clientId } = await raw.hello("resumes-later");
  await arbiter.kill9();
  await arbiter.restart();
  raw.socket.end();
  const report = await status();
  const kept = report.clients.find((each: { clientId: number }) => each.clientId === clientId);
  expect(kept.connected).toBe(false);
  expect(report.totals.connected).toBe(report.totals.clients - 1);
}, 60_000);
