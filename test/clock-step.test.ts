/**
 * Leases against a host clock that steps (NTP's step, `date -s`, a host resumed and corrected): the
 * arbiter measures a client's silence on the monotonic clock, so a step back does not keep a frozen
 * client's locks and blocks for the length of the step (an operator trial: they measured silence as
 * wall-clock differences, and a step back of an hour would have kept a frozen VM's locks for an hour),
 * and a step forward expires nobody who is alive. The arbiter is ./fixtures/probed-arbiter.ts, whose
 * wall clock the test steps; the clients are processes of their own.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Client, connect } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import {
  clientConfig,
  eventually,
  livenessBoundMs,
  type Spawned,
  spawnFixture,
} from "./helpers/processes.ts";

const LEASE_MS = 1000;
const HOUR_MS = 3_600_000;

let paths: TestPaths;
let arbiter: Spawned;
let observer: Client;

beforeAll(async () => {
  paths = testPaths("clock-step");
  arbiter = spawnFixture("probed-arbiter", {
    region: paths.region,
    socket: paths.socket,
    state: paths.state,
    leaseMs: LEASE_MS,
  });
  await arbiter.events.next("serving");
  observer = await connect({ socket: paths.socket, region: paths.region, name: "observer" });
});
afterAll(async () => {
  await observer?.close();
  arbiter?.proc.kill("SIGTERM");
  await arbiter?.exit();
  paths?.cleanup();
});

async function stepClock(ms: number): Promise<void> {
  arbiter.proc.stdin.write(`step ${ms}\n`);
  arbiter.proc.stdin.flush();
  await arbiter.events.next("stepped");
}

test("a clock stepped forward an hour: a live client keeps its session", async () => {
  const live = spawnFixture("lease", clientConfig(paths));
  const { clientId } = await live.events.next("ready");
  await stepClock(HOUR_MS);
  // Two sweeps and more: each would have found the client an hour silent.
  await Bun.sleep(3 * LEASE_MS);
  const { clients } = await observer.status();
  expect(clients.map((client) => client.clientId)).toContain(Number(clientId));
  const idle = clients.find((client) => client.clientId === Number(clientId))?.idleMs ?? -1;
  expect(idle).toBeGreaterThanOrEqual(0);
  expect(idle).toBeLessThan(HOUR_MS);
  live.proc.stdin.write("alloc\n");
  live.proc.stdin.flush();
  expect((await live.events.next("result")).ok).toBe(true);
  expect(await live.exit()).toBe(0);
}, 60_000);

test("a clock stepped back an hour: a client frozen past its lease still loses its grants within the bound", async () => {
  const frozen = spawnFixture("lease", clientConfig(paths));
  await frozen.events.next("ready");
  frozen.proc.kill("SIGSTOP");
  await stepClock(-HOUR_MS);
  const reclaimed = async () => (await observer.status()).segments.length === 0;
  await eventually(reclaimed, livenessBoundMs(LEASE_MS), "reclaiming the frozen client's segment");
  frozen.proc.kill("SIGKILL");
  await frozen.exit();
}, 60_000);
