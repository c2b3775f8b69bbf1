/**
 * The arbiter parks at most MAX_PARKED_WAITS (4096) waits per session (test/wait-limit.test.ts), and the
 * library parks one wait per waiting object: a client waiting on more objects than that at once (a region
 * made with more --slots) must still get every lock, not a QuotaExceeded for a wait it never asked for.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually } from "./helpers/processes.ts";

const LOCKS = 4200; // more than MAX_PARKED_WAITS

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("wait-limit-locks");
  arbiter = await ArbiterProcess.start(paths, { slots: "8192", lease: "60s" });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("a client waiting on more locks than the arbiter parks waits for still gets each one", async () => {
  const holder = await connect({ socket: paths.socket, region: paths.region, futexParking: false });
  const waiter = await connect({ socket: paths.socket, region: paths.region, futexParking: false });
  try {
    const names = Array.from({ length: LOCKS }, (_, index) => `many-${index}`);
    const held = await Promise.all(names.map((name) => holder.mutex(name)));
    for (const mutex of held) expect(mutex.tryLock()).toBe("acquired");
    const wanted = await Promise.all(names.map((name) => waiter.mutex(name)));
    const outcomes = wanted.map((mutex) =>
      mutex.lock().then(
        (outcome) => {
          mutex.unlock();
          return outcome as string;
        },
        (error: Error) => error.message,
      ),
    );
    // Parked in the arbiter: every lock word says someone waits (or a lock already failed).
    let settled = 0;
    for (const outcome of outcomes) outcome.then(() => settled++);
    await eventually(
      async () => settled > 0 || wanted.every((mutex) => waiter.slotWords(mutex.slot)[0]! < 0),
      60_000,
      "every waiter flagged its lock",
    );
    await Bun.sleep(500);
    for (const mutex of held) mutex.unlock();
    const results = await Promise.all(outcomes);
    const failed = results.filter((result) => result !== "acquired");
    expect(failed.slice(0, 3)).toEqual([]);
  } finally {
    await Promise.all([holder.close(), waiter.close()]);
  }
}, 120_000);
