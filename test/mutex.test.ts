/** Mutual exclusion across processes: two processes x 1 000 000 unsynchronised increments under the Mutex. */
import { expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { clientConfig, spawnFixture } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const ITERATIONS = 1_000_000;
const suite = sharedArbiter("mutex");

test("two processes x 1 000 000 increments give the exact sum", async () => {
  const observer = await connect({ socket: suite.socket, region: suite.region, name: "observer" });
  // The observer holds the counter so it outlives the incrementers.
  const counter = await observer.alloc(4096, { name: "counter" });
  const config = clientConfig(suite.paths, {
    segment: "counter",
    mutex: "counter-lock",
    iterations: ITERATIONS,
  });
  const workers = [spawnFixture("increment", config), spawnFixture("increment", config)];
  await Promise.all(workers.map((worker) => worker.events.next("done", 120_000)));
  const codes = await Promise.all(workers.map((worker) => worker.exit()));
  expect(codes).toEqual([0, 0]);
  expect(new Int32Array(counter.bytes.buffer, counter.bytes.byteOffset, 1)[0]).toBe(2 * ITERATIONS);
  await observer.close();
}, 180_000);
