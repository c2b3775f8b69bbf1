/**
 * An arbiter that is stopped (SIGSTOP) or wedged with its connections open answers nothing: every bound a
 * caller chose still holds, and a client gives it up after the reconnect timeout, as it gives up an
 * arbiter that is gone (found by a library trial: each of these waited until SIGCONT).
 */
import { afterEach, expect, test } from "bun:test";
import { IvshError } from "../src/errors.ts";
import { connect } from "../src/guest/index.ts";
import { livenessBoundMs } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const LEASE_MS = 1000;
const suite = sharedArbiter("arbiter-stall", { lease: `${LEASE_MS}ms` });
// A test that stops the arbiter lets it run again even if it fails first.
afterEach(() => {
  suite.arbiter.spawned.proc.kill("SIGCONT");
});

test("lock(ms) and wait(ms) parked in a stopped arbiter end at their timeout, not when it runs again", async () => {
  const where = { socket: suite.socket, region: suite.region };
  const holder = await connect({ ...where, name: "holder" });
  // Parked in the arbiter from the start (a futex park moves there after half a second anyway).
  const waiter = await connect({ ...where, name: "waiter", futexParking: false });
  await (await holder.mutex("held-through-stall")).lock();
  const mutex = await waiter.mutex("held-through-stall");
  const condvar = await waiter.condvar("waited-through-stall");
  await condvar.acquire();
  suite.arbiter.spawned.proc.kill("SIGSTOP");
  // Before the fix both waited for the arbiter's own timer, i.e. until SIGCONT (here: never).
  const bound = Bun.sleep(livenessBoundMs(LEASE_MS)).then(() => "still waiting");
  const locked = mutex.lock(1000).then(
    () => "locked",
    (error: IvshError) => error.code,
  );
  expect(await Promise.race([locked, bound])).toBe("Timeout");
  expect(await Promise.race([condvar.wait(1000), bound])).toBe("timed-out");
  condvar.release();
  suite.arbiter.spawned.proc.kill("SIGCONT");
  await Promise.all([holder.close(), waiter.close()]);
}, 30_000);

test("a request to an arbiter stopped for longer than the reconnect timeout fails, saying so", async () => {
  const reconnectTimeoutMs = 2000;
  const client = await connect({ socket: suite.socket, region: suite.region, reconnectTimeoutMs });
  suite.arbiter.spawned.proc.kill("SIGSTOP");
  // Before the fix it waited until SIGCONT (here: never), though a dead arbiter is given up on.
  const bound = Bun.sleep(reconnectTimeoutMs + livenessBoundMs(LEASE_MS)).then(() => "still waiting");
  const allocated = client.alloc(4096).then(
    () => "allocated",
    (error: IvshError) => error,
  );
  const outcome = await Promise.race([allocated, bound]);
  expect(outcome).toBeInstanceOf(IvshError);
  expect((outcome as IvshError).code).toBe("ArbiterUnreachable");
  expect((outcome as IvshError).message).toMatch(/answered nothing for .* with its connection open/);
  expect(client.lost).toBe(outcome as IvshError);
  suite.arbiter.spawned.proc.kill("SIGCONT");
  await client.close();
}, 30_000);

test("a second close() resolves when the first has finished, not while its goodbye is on its way", async () => {
  const client = await connect({ socket: suite.socket, region: suite.region });
  suite.arbiter.spawned.proc.kill("SIGSTOP"); // the goodbye goes unanswered: the first close() waits its bound
  let firstDone = false;
  const first = client.close().then(() => {
    firstDone = true;
  });
  await client.close();
  expect(firstDone).toBe(true);
  expect(client.isClosed).toBe(true);
  suite.arbiter.spawned.proc.kill("SIGCONT");
  await first;
});

// Mutation round 32 (src/guest/goodbye.ts): close() waits for the goodbye's answer, for a while.
test("close() waits for the answer to its goodbye from an arbiter stopped for a moment, not resolving at once", async () => {
  const client = await connect({ socket: suite.socket, region: suite.region });
  suite.arbiter.spawned.proc.kill("SIGSTOP");
  const closed = client.close().then(() => "closed");
  // Well within the goodbye's bound (1 s): a timer fires late on a busy machine, never early.
  await Bun.sleep(300);
  expect(await Promise.race([closed, Bun.sleep(0).then(() => "pending")])).toBe("pending");
  suite.arbiter.spawned.proc.kill("SIGCONT");
  expect(await closed).toBe("closed");
});
