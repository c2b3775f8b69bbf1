/**
 * A waiter takes its count back out of the slot's park record (futex) or queued count (arbiter) when its
 * park ends. A wait ended by the close of its own handle, the client's last on the slot, ends after the
 * arbiter freed the slot, and another client may have made a new object there by then: the waiter took
 * its count out of that object's fresh words, leaving -1. A -1 queued count hides the next waiter parked
 * in the arbiter (1 - 1 = 0), so a notify sends it no WAKE and it sleeps until the arbiter's next sweep.
 */
import { afterAll, beforeAll, describe, test } from "bun:test";
import { expectNoCountLeftByClosedWait } from "./helpers/park-counts.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("park-counts");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

for (const futexParking of [true, false]) {
  describe(futexParking ? "parked on the futex" : "parked in the arbiter", () => {
    test(
      "a wait ended by the close of its handle leaves no count in the next object made in that slot",
      () => expectNoCountLeftByClosedWait(paths, futexParking),
      30_000,
    );
  });
}
