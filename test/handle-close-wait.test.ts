/**
 * close() of a mutex or condvar handle ends a lock() or wait() parked on that handle, whether or not the
 * client keeps other handles on the object. Only the close of the client's last handle reaches the arbiter
 * (syncClose, which wakes the slot): closing one of two left a wait parked in the arbiter until the holder
 * let go or someone notified, and that wake-up then went to the closed handle's wait, not to a live one.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, livenessBoundMs, spawnFixture } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("handle-close-wait");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

const bound = () => Bun.sleep(livenessBoundMs(2000)).then(() => "still waiting");

for (const futexParking of [false, true]) {
  describe(futexParking ? "parked on the futex" : "parked in the arbiter", () => {
    test("closing the handle a lock() waits on, another handle still open, ends that lock()", async () => {
      const name = `held-elsewhere-${futexParking}`;
      const holder = spawnFixture("holder", clientConfig(paths, { segment: `${name}-seg`, mutex: name }));
      const client = await connect({ socket: paths.socket, region: paths.region, futexParking });
      try {
        await holder.events.next("holding");
        const kept = await client.mutex(name);
        const closed = await client.mutex(name);
        const waiting = closed.lock();
        waiting.catch(() => undefined);
        await Bun.sleep(700); // past the futex's local park: in the arbiter in either mode
        await closed.close();
        const outcome = await Promise.race([waiting.then(String, (error: Error) => error), bound()]);
        expect(outcome).toBeInstanceOf(Error);
        await expectRejection(waiting, "NotHeld", /its handle was closed/);
        expect(kept.tryLock()).toBeUndefined(); // the holder still holds it
        await kept.close();
      } finally {
        holder.proc.kill("SIGKILL");
        await holder.exit();
        await client.close();
      }
    }, 60_000);

    test("closing the handle a wait() waits on, another handle still open, ends that wait()", async () => {
      const name = `cv-two-handles-${futexParking}`;
      const client = await connect({ socket: paths.socket, region: paths.region, futexParking });
      try {
        const kept = await client.condvar(name);
        const closed = await client.condvar(name);
        await closed.acquire();
        const waiting = closed.wait();
        waiting.catch(() => undefined);
        await Bun.sleep(700);
        await closed.close();
        const outcome = await Promise.race([waiting.then(String, (error: Error) => error), bound()]);
        expect(outcome).toBeInstanceOf(Error);
        await expectRejection(waiting, "NotHeld", /its handle was closed/);
        await kept.close();
      } finally {
        await client.close();
      }
    }, 60_000);
  });
}
