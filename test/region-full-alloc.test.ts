/**
 * A region on a tmpfs that filled up after the arbiter started (another program's files in /dev/shm): an
 * alloc must be answered, not kill the arbiter. Zeroing a small segment wrote every page of it, and a
 * first write to a page a full tmpfs cannot give is SIGBUS: one client's alloc ended the arbiter for all.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { cannotMount, fillFile, withSmallTmpfs } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("region-full-alloc");
});
afterAll(() => paths?.cleanup());

testUnless(
  cannotMount,
  "an alloc in a region whose tmpfs filled up after the start: answered, the arbiter lives",
  () =>
    withSmallTmpfs(join(paths.dir, "small"), "2m", async (small) => {
      const own = { ...paths, region: join(small, "region"), state: join(paths.dir, "arbiter.state") };
      const arbiter = await ArbiterProcess.start(own, { size: "512KiB", blockSize: "64KiB" });
      try {
        const client = await connect({ socket: own.socket, region: own.region, name: "full" });
        // Another program fills the file system the region lives on.
        fillFile(join(small, "filler"));
        const outcome = await Promise.race([
          client.alloc(65536).then(
            () => "ok",
            (error: { code?: string }) => String(error.code),
          ),
          arbiter.spawned.proc.exited.then(
            async (code) => `the arbiter exited (${code}): ${(await arbiter.spawned.stderr).trim()}`,
          ),
        ]);
        // Either answer is one (a zeroed hole need not be written); the arbiter must still be there.
        expect(outcome).toMatch(/^(ok|NoSpace)$/);
        await client.close();
      } finally {
        await arbiter.stop().catch(() => {});
      }
    }),
  60_000,
);
