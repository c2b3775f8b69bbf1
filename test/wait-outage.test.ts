/**
 * A lock() parked in the arbiter when the arbiter goes away: shared memory still works, so a holder that
 * unlocks meanwhile must let the waiter in at once, without the arbiter. The link's end ends every parked
 * wait (a wait may always end spuriously); kept and re-sent instead, the waiter slept through the outage
 * while the lock it waited for was free, until the arbiter came back.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, EXIT_BOUND_MS, eventually } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("wait-outage");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("a lock() parked in the arbiter gets the lock its holder frees while the arbiter is away", async () => {
  const where = { socket: paths.socket, region: paths.region };
  const holder = await connect(where);
  const waiter = await connect({ ...where, futexParking: false });
  const held = await holder.mutex("outage-lock");
  await held.lock();
  const mutex = await waiter.mutex("outage-lock");
  let locked = false;
  const locking = mutex.lock().then(() => {
    locked = true;
  });
  locking.catch(() => undefined);
  await eventually(async () => (waiter.requestCounts.get("wait") ?? 0) > 0, 20_000, "the waiter parking");
  await arbiter.kill9();
  await eventually(
    async () => !waiter.transport.connected,
    20_000,
    "the waiter noticing the arbiter went away",
  );
  held.unlock(); // the word is free at once; its WAKE waits for the arbiter
  await eventually(
    async () => locked,
    EXIT_BOUND_MS,
    "the waiter taking the freed lock, the arbiter still away",
  );
  expect(locked).toBe(true);
  await arbiter.restart();
  mutex.unlock();
  await waiter.close();
  await holder.close();
}, 90_000);
