/**
 * A state journal removed under the running arbiter (a clean-up of its directory) while its file system is
 * full. A change the journal cannot take is undone by replaying the journal into memory; read from the
 * path, which leads nowhere now, that replay was of nothing: every session and allocation was forgotten,
 * and once there was room the sweep wrote that empty state as the journal, so a restart lost them too.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { cannotMount, fillFile, withSmallTmpfs } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("journal-gone-full");
});
afterAll(() => paths?.cleanup());

testUnless(
  cannotMount,
  "a journal removed while its file system is full: a refused change keeps every allocation",
  () =>
    withSmallTmpfs(join(paths.dir, "small"), "1m", async (small) => {
      const own = { ...paths, state: join(small, "arbiter.state") };
      const arbiter = await ArbiterProcess.start(own);
      try {
        const client = await connect({ socket: own.socket, region: own.region, name: "keeper" });
        await client.alloc(4096, { name: "kept" });
        fillFile(join(small, "filler"));
        // Removed, but the arbiter's descriptor keeps its pages: the file system stays full.
        rmSync(own.state);
        // Changes that zero no block, until one the journal cannot take is refused.
        let refused = "ok";
        for (let index = 0; index < 500 && refused === "ok"; index++)
          refused = await client
            .mutex(`m${index}`)
            .then((mutex) => mutex.close())
            .then(
              () => "ok",
              (error: { code?: string }) => String(error.code),
            );
        expect(refused).toBe("NoSpace");
        const { report } = await fetchStatus({ unix: own.socket });
        expect(report.segments.map((segment) => segment.name)).toEqual(["kept"]);
        await client.close().catch(() => {});
      } finally {
        await arbiter.stop().catch(() => {});
      }
    }),
  60_000,
);
