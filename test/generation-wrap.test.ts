/**
 * A slot's generation word tells a handle whether its slot still holds its object (docs/layout.md section
 * 3): the arbiter hands each new object one more than the highest it handed out, and wraps past 2^32 - 1 to
 * 1 (docs/protocol.md, `syncOpen`). The highest was kept as the maximum of those recorded, so after the wrap
 * it stayed 2^32 - 1 and every new object got generation 1: a handle could no longer tell a new object in
 * its slot from its own, and a waiter whose handle's close freed its slot took its park count out of the
 * next object made there (the defect test/park-counts.test.ts guards against, back after the wrap). The
 * arbiter is started here on a journal whose last generation is just below the wrap, as one that has made
 * 2^32 objects.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { connect } from "../src/guest/index.ts";
import { SyncWord } from "../src/region/layout.ts";
import { expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, livenessBoundMs } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("generation-wrap");
  // A first start makes the region and its journal; the journal's begin record is then moved on.
  arbiter = await ArbiterProcess.start(paths);
  await arbiter.stop();
  const [first, ...rest] = readFileSync(paths.state, "utf8").split("\n");
  const begin = { ...JSON.parse(first!), lastGeneration: 0xfffffffe };
  writeFileSync(paths.state, [JSON.stringify(begin), ...rest].join("\n"));
  await arbiter.restart();
});

afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("objects made one after another in a freed slot across the wrap each get a generation of their own", async () => {
  const client = await connect(clientConfig(paths, { name: "maker" }));
  const generations: number[] = [];
  for (let i = 0; i < 4; i++) {
    const mutex = await client.mutex(`wrap-${i}`);
    expect(mutex.slot).toBe(0);
    generations.push(mutex.generation);
    await mutex.close();
  }
  expect(generations).toEqual([0xffffffff, 1, 2, 3]);
  await client.close();
  // A restart replays them: the next object goes on from there.
  await arbiter.kill9();
  await arbiter.restart();
  const again = await connect(clientConfig(paths, { name: "again" }));
  const next = await again.mutex("after-restart");
  expect(next.generation).toBe(4);
  await again.close();
});

const COUNTERS = {
  lockParked: SyncWord.lockParked,
  lockQueued: SyncWord.lockQueued,
  sequenceParked: SyncWord.sequenceParked,
  sequenceQueued: SyncWord.sequenceQueued,
};

// As test/park-counts.test.ts, after the wrap.
for (const futexParking of [true, false]) {
  describe(futexParking ? "parked on the futex" : "parked in the arbiter", () => {
    test("after the wrap, a wait ended by the close of its handle leaves no count in the next object made in that slot", async () => {
      const closer = await connect(clientConfig(paths, { futexParking }));
      const maker = await connect(clientConfig(paths, { futexParking }));
      try {
        const name = `closed-while-waiting-${futexParking}`;
        const condvar = await closer.condvar(name);
        const words = closer.slotWords(condvar.slot);
        const counted = futexParking ? SyncWord.sequenceParked : SyncWord.sequenceQueued;
        await condvar.acquire();
        const waiting = condvar.wait();
        waiting.catch(() => undefined);
        const deadline = performance.now() + livenessBoundMs(5000);
        while (Atomics.load(words, counted) === 0 && performance.now() < deadline) await Bun.sleep(1);
        expect(Atomics.load(words, counted)).not.toBe(0);
        const closing = condvar.close();
        // Made while the waiter's park is still ending: the slot just freed is the one it gets.
        const making = maker.condvar(`${name}-next`);
        Bun.sleepSync(100);
        const fresh = await making;
        await closing;
        await expectRejection(waiting, "NotHeld", /its handle was closed/);
        expect(fresh.slot).toBe(condvar.slot);
        const freshWords = maker.slotWords(fresh.slot);
        const counters = Object.fromEntries(
          Object.entries(COUNTERS).map(([word, index]) => [word, Atomics.load(freshWords, index)]),
        );
        expect(counters).toEqual({ lockParked: 0, lockQueued: 0, sequenceParked: 0, sequenceQueued: 0 });
        await fresh.close();
      } finally {
        await Promise.all([closer.close(), maker.close()]);
      }
    }, 30_000);
  });
}
