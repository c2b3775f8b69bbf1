/**
 * Notifies under a condvar's lock owe their wake-ups until unlock() (src/guest/condvar.ts, signal): what
 * several broadcasts owe is capped at "wake all", the most a WAKE (a u32 count) or a futex wake (an int)
 * says. Summed instead, three broadcasts owed more than a WAKE can carry, and release() failed once the
 * lock was already let go, the waiter parked in the arbiter left asleep.
 */
import { expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { clientConfig, eventually, spawnFixture } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("condvar-owed-wakes");

test("three broadcasts under the lock: release() wakes the waiter parked in the arbiter, and throws nothing", async () => {
  const holder = await connect({ socket: suite.socket, region: suite.region, futexParking: false });
  const cv = await holder.condvar("owed");
  const waiter = spawnFixture(
    "cv-waiter",
    clientConfig(suite.paths, { cv: "owed", once: true, futexParking: false }),
  );
  try {
    await waiter.events.next("waiting");
    const parked = async () => (await holder.status()).sync.find((sync) => sync.name === "owed")?.waiters;
    await eventually(async () => (await parked()) === 1, 20_000, "the waiter's wait parked in the arbiter");
    await cv.acquire();
    cv.broadcast();
    cv.broadcast();
    cv.broadcast();
    cv.release();
    expect(await waiter.events.next("waited")).toMatchObject({ result: "notified" });
    expect(await waiter.exit()).toBe(0);
  } finally {
    waiter.proc.kill("SIGKILL");
    await cv.close();
    await holder.close();
  }
}, 60_000);
