/**
 * A connection whose session the lease reclaimed while it stayed open (its client silent: stopped, starved)
 * is told at once, unasked, and the next request it sends is answered "lease expired" (and its connection
 * closed), so its client learns why it lost what it held (src/host/arbiter.ts expire, src/host/dispatch.ts checkFrame).
 */
import { afterAll, expect, test } from "bun:test";
import { decodeError } from "../src/protocol/codec.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, livenessBoundMs } from "./helpers/processes.ts";
import { rawClient } from "./helpers/raw.ts";

const LEASE_MS = 1000;
let paths: TestPaths;
let arbiter: ArbiterProcess;

afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("a silent client's later requests on its open connection are answered LeaseExpired, not served", async () => {
  paths = testPaths("dispatch-expiry");
  arbiter = await ArbiterProcess.start(paths, { lease: `${LEASE_MS}ms` });
  const silent = await rawClient(paths.socket); // a raw client sends no heartbeats
  await silent.hello("silent");
  const told = await silent.answer(0, livenessBoundMs(LEASE_MS), "the unasked lease-expired error");
  expect(decodeError(told.body).code).toBe("LeaseExpired");
  silent.send("alloc", 2, { bytes: 65536, blocks: 0, mode: 2, name: "after-expiry" });
  // Answered, and the connection then closed (LeaseExpired ends it): the client has nothing left there.
  const answer = decodeError((await silent.answer(2)).body);
  expect(answer.code).toBe("LeaseExpired");
  expect(String(answer)).toContain("no heartbeat arrived for 1000 ms (lease expired)");
  await silent.closed;
  silent.socket.end();
}, 60_000);
