/**
 * A condition-variable wait with no timeout cannot end "timed-out", and its type says so: it was typed as
 * every wait's result, so a caller's `switch` had a "timed-out" case that could never run (and tsc asked
 * for it). Without a timeout, wait() and shm_wait_cv() are typed "notified" | "owner-died"; with one, the
 * three results. tsc --noEmit (the test command's first step) checks the assignments below.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect, type UntimedWaitResult, type WaitResult } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("cv-wait-types");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("an untimed wait is typed without 'timed-out'; a timed one keeps it", async () => {
  const waiter = await connect({ socket: paths.socket, region: paths.region, name: "waiter" });
  const notifier = await connect({ socket: paths.socket, region: paths.region, name: "notifier" });
  try {
    const cv = await waiter.condvar("cv-types");
    const other = await notifier.condvar("cv-types");
    expect(await cv.acquire()).toBe("acquired");
    const untimed = cv.wait();
    expect(await other.acquire()).toBe("acquired");
    other.notify();
    other.release();
    const notified: UntimedWaitResult = await untimed;
    expect(notified).toBe("notified");
    const timed: WaitResult = await cv.wait(10);
    // @ts-expect-error a timed wait may end "timed-out", which the untimed type leaves out
    const narrowed: UntimedWaitResult = timed;
    expect(narrowed as string).toBe("timed-out");
    cv.release();
  } finally {
    await waiter.close();
    await notifier.close();
  }
});
