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
import { expectNoCountLeftByClosedWait } from "./helpers/park-counts.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig } from "./helpers/processes.ts";

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

// As test/park-counts.test.ts, after the wrap.
for (const futexParking of [true, false]) {
  describe(futexParking ? "parked on the futex" : "parked in the arbiter", () => {
    test(
      "after the wrap, a wait ended by the close of its handle leaves no count in the next object made in that slot",
      () => expectNoCountLeftByClosedWait(paths, futexParking),
      30_000,
    );
  });
}
