/**
 * What the benchmark's workers need of a client beyond the public API, and nothing more: one sync slot's
 * words, a wait that tells a wake from a word that had moved on, a wake answered by the arbiter, and the
 * RPCs sent so far.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Client } from "../../src/guest/client.ts";
import { connect } from "../../src/guest/connect.ts";
import { SlotWord, SyncWord } from "../../src/region/layout.ts";
import { type TestPaths, testPaths } from "../helpers/paths.ts";
import { ArbiterProcess } from "../helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let clients: Client[];

beforeAll(async () => {
  paths = testPaths("client-words");
  arbiter = await ArbiterProcess.start(paths);
  clients = await Promise.all(
    ["waiter", "waker"].map((name) => connect({ socket: paths.socket, region: paths.region, name })),
  );
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await arbiter?.stop();
  paths?.cleanup();
});

test("slotWords is one slot's 16 words, the same memory in every client", async () => {
  const [waiter, waker] = clients as [Client, Client];
  const [a, b] = [await waiter.condvar("words"), await waker.condvar("words")];
  const [mine, theirs] = [waiter.slotWords(a.slot), waker.slotWords(b.slot)];
  expect(mine).toHaveLength(16);
  Atomics.store(mine, SyncWord.firstUnused, 42);
  expect(Atomics.load(theirs, SyncWord.firstUnused)).toBe(42);
  expect(Atomics.load(theirs, SlotWord.generation)).not.toBe(0);
});

test("waitWord says whether a wake ended the park; wakeWordAnswered is a round trip", async () => {
  const [waiter, waker] = clients as [Client, Client];
  const { slot } = await waiter.condvar("wait");
  await waker.condvar("wait");
  const word = SyncWord.firstUnused;
  // The word no longer holds what the waiter expects: answered at once, not woken.
  Atomics.store(waiter.slotWords(slot), word, 1);
  expect(await waiter.waitWord(slot, word, 0, 1000)).toBe(false);
  const sent = waker.requestCounts.get("wake") ?? 0;
  let woken: boolean | undefined;
  const parked = waiter.waitWord(slot, word, 1, 10_000).then((result) => (woken = result));
  // Woken again until the wait, wherever it is on its way, has been parked and woken.
  while (woken === undefined) {
    await waker.wakeWordAnswered(slot, word, 1);
    await Bun.sleep(5);
  }
  expect(await parked).toBe(true);
  expect(waker.requestCounts.get("wake")).toBeGreaterThan(sent);
});
