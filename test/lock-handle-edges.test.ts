/**
 * Edges of a lock handle (src/guest/sync.ts) against a real arbiter: unlock() through a handle closed
 * while another handle of the same client keeps the slot (and the lock) is refused and leaves the lock
 * held; a handle whose slot's generation word no longer says its object (the slot freed and made
 * another's, or overwritten) takes no lock there; and a loop of uncontended lock()s, which take no system
 * call, still lets the event loop turn (timers, the heartbeat), now and then.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Client, connect } from "../src/guest/index.ts";
import { SlotWord } from "../src/region/layout.ts";
import { expectFailure, expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let client: Client;
let other: Client;

beforeAll(async () => {
  paths = testPaths("lock-handle-edges");
  arbiter = await ArbiterProcess.start(paths);
  client = await connect({ socket: paths.socket, region: paths.region, name: "edges" });
  other = await connect({ socket: paths.socket, region: paths.region, name: "edges-other" });
});
afterAll(async () => {
  await Promise.all([client?.close(), other?.close()]);
  await arbiter?.stop();
  paths?.cleanup();
});

test("unlock() through a closed handle is refused; the lock stays this client's, unlocked through the open one", async () => {
  const first = await client.mutex("unlock-closed-handle");
  const second = await client.mutex("unlock-closed-handle");
  expect(await first.lock()).toBe("acquired");
  await first.close(); // not the last handle: the lock stays held
  expectFailure(() => first.unlock(), "NotHeld", /use 'unlock-closed-handle' since its handle was closed/);
  expect(second.owner).toBe(client.clientId);
  const theirs = await other.mutex("unlock-closed-handle");
  expect(theirs.tryLock()).toBeUndefined();
  second.unlock();
  expect(theirs.tryLock()).toBe("acquired");
  theirs.unlock();
  await Promise.all([second.close(), theirs.close()]);
});

test("a handle whose slot's generation moved on is stale: tryLock() and lock() take nothing there", async () => {
  const mutex = await client.mutex("stale-generation");
  const words = client.slotWords(mutex.slot);
  const generation = Atomics.load(words, SlotWord.generation);
  // The arbiter stopped meanwhile: its guard would put the overwritten word back.
  arbiter.spawned.proc.kill("SIGSTOP");
  Atomics.store(words, SlotWord.generation, generation + 1); // as if the slot held another object now
  let tried: unknown;
  try {
    mutex.tryLock();
  } catch (error) {
    tried = error;
  }
  const locking = mutex.lock(); // refused before its first await
  const lockWord = Atomics.load(words, SlotWord.lock);
  Atomics.store(words, SlotWord.generation, generation);
  arbiter.spawned.proc.kill("SIGCONT");
  const stale = new RegExp(`slot ${mutex.slot} now holds another object \\(the handle is stale\\)`);
  expectFailure(
    () => {
      throw tried;
    },
    "NotHeld",
    stale,
  );
  await expectRejection(locking, "NotHeld", stale);
  expect(lockWord).toBe(0);
  await mutex.close();
});

test("a loop of uncontended lock()s lets a timer run before it ends", async () => {
  const mutex = await client.mutex("uncontended-loop");
  let fired = false;
  setTimeout(() => {
    fired = true;
  }, 0);
  // A liveness bound, not a time: the loop yields every 1024th lock once 20 ms have passed since its last turn.
  let rounds = 0;
  while (!fired && rounds < 20_000_000) {
    await mutex.lock();
    mutex.unlock();
    rounds++;
  }
  expect(fired).toBe(true);
  await mutex.close();
}, 120_000);
