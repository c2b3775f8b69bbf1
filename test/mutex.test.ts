/** Mutual exclusion across processes: two processes x 1 000 000 unsynchronised increments under the Mutex. */
import { afterAll, beforeAll, beforeEach, expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, spawnFixture } from "./helpers/processes.ts";

const ITERATIONS = 1_000_000;
let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("mutex");
  arbiter = await ArbiterProcess.start(paths);
});
beforeEach(() => arbiter.revive());
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("two processes x 1 000 000 increments give the exact sum", async () => {
  const observer = await connect({ socket: paths.socket, region: paths.region, name: "observer" });
  // The observer holds the counter so it outlives the incrementers.
  const counter = await observer.alloc(4096, { name: "counter" });
  const config = clientConfig(paths, { segment: "counter", mutex: "counter-lock", iterations: ITERATIONS });
  const workers = [spawnFixture("increment", config), spawnFixture("increment", config)];
  await Promise.all(workers.map((worker) => worker.events.next("done", 120_000)));
  const codes = await Promise.all(workers.map((worker) => worker.exit()));
  expect(codes).toEqual([0, 0]);
  expect(new Int32Array(counter.bytes.buffer, counter.bytes.byteOffset, 1)[0]).toBe(2 * ITERATIONS);
  await observer.close();
}, 180_000);
