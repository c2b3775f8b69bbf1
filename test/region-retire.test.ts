/**
 * A closed client's region stays reserved, so a view kept past close() faults instead of reading what is
 * mapped there next; but not for ever: a process that connects and closes again and again must not run out
 * of address space (a 4 TiB region: x86-64 gives a process 128 TiB).
 */
import { afterAll, expect } from "bun:test";
import { join } from "node:path";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, spawnFixture } from "./helpers/processes.ts";
import { cannotMount, withSmallTmpfs } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

let paths: TestPaths | undefined;
afterAll(() => paths?.cleanup());

testUnless(
  cannotMount,
  "connect() and close() 64 times on a 4 TiB region: every connect succeeds (the closed ones' reservations are let go)",
  async () => {
    paths = testPaths("region-retire");
    // Sparse: the arbiter writes the header and slots only, and nothing here allocates a block.
    await withSmallTmpfs(join(paths.dir, "big"), "5t", async (dir) => {
      const region = join(dir, "region");
      const arbiter = await ArbiterProcess.start({ ...paths!, region }, { size: "4TiB", blockSize: "1GiB" });
      try {
        const run = spawnFixture("reconnector", { socket: paths!.socket, region, cycles: 64 });
        // A failed cycle ends the stream first: the error names the cycle and the failure (ENOMEM).
        expect(await run.events.next("done", 150_000)).toEqual({ event: "done", cycles: 64 });
        expect(await run.exit()).toBe(0);
      } finally {
        await arbiter.stop();
      }
    });
  },
  180_000,
);
