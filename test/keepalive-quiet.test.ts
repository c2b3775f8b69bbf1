/**
 * client.keepAlive() in a data loop: it sends a heartbeat only once nothing has been answered for a while
 * (a twelfth of the lease); while requests are being answered it sends none. Counted with
 * client.requestCounts, not timed: the lease is a minute, so the test's own pace cannot make the
 * arbiter's answers look old.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Client, connect } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let client: Client;

beforeAll(async () => {
  paths = testPaths("keepalive-quiet");
  arbiter = await ArbiterProcess.start(paths, { lease: "60s" });
  client = await connect({ ...clientConfig(paths), name: "busy" });
});
afterAll(async () => {
  await client?.close();
  await arbiter?.stop();
  paths?.cleanup();
});

test("keepAlive() between answered requests sends no heartbeat", async () => {
  const heartbeats = () => client.requestCounts.get("heartbeat") ?? 0;
  await client.status(0);
  const before = heartbeats();
  for (let round = 0; round < 5; round++) {
    client.keepAlive();
    await client.status(0); // answered after any heartbeat sent just before it
  }
  expect(heartbeats() - before).toBe(0);
});
