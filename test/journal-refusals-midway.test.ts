/**
 * While the state journal refuses changes, one let through (room again on its file system) must be
 * refused or recorded whole. The up-front check ran per record: an alloc's segment and grant were let
 * through, zeroing its blocks then took the room (the region and the journal on one tmpfs, as the default
 * REGION.state in /dev/shm is), and its cached reply was refused up front, after the two were applied
 * and with nothing undone: the client was told JournalFull while the arbiter held the segment for it.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { rmSync, statfsSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { spawnFixture } from "./helpers/processes.ts";
import { cannotMount, fillFile, withSmallTmpfs } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("journal-refusals-midway");
});
afterAll(() => paths?.cleanup());

testUnless(
  cannotMount,
  "a change let through while the journal refuses is refused or recorded whole, never applied in part",
  () =>
    withSmallTmpfs(join(paths.dir, "small"), "2m", async (small) => {
      const region = join(small, "region");
      const arbiter = spawnFixture("probed-arbiter", {
        region,
        socket: paths.socket,
        state: join(small, "arbiter.state"),
      });
      try {
        await arbiter.events.next("serving");
        const client = await connect({ socket: paths.socket, region, name: "midway" });
        // Room for a little more than one 64 KiB block's pages, kept aside; the rest filled.
        fillFile(join(small, "reserve"), 96 * 1024);
        fillFile(join(small, "filler"));
        // Changes that zero no block, until the journal's last page is full and one is refused.
        const opened = (index: number) =>
          client
            .mutex(`m${index}`)
            .then((mutex) => mutex.close())
            .then(
              () => "ok",
              (error: { code?: string }) => String(error.code),
            );
        let refused = "ok";
        for (let index = 0; index < 500 && refused === "ok"; index++) refused = await opened(index);
        expect(refused).toBe("JournalFull");
        // Within the second before the next probe: room again, as the file system says.
        rmSync(join(small, "reserve"));
        const { bavail, bsize } = statfsSync(small);
        expect(bavail * bsize).toBeGreaterThanOrEqual(64 * 1024);
        const allocated = (name: string) =>
          client.alloc(4096, { name }).then(
            () => "ok",
            (error: { code?: string }) => String(error.code),
          );
        const during = await allocated("ghost");
        rmSync(join(small, "filler"));
        const after = await allocated("ghost");
        // Refused, the name is free once there is room; taken, the client holds it. Not both refused and taken.
        expect({ during, after }).toEqual(
          during === "ok" ? { during, after: "AlreadyExists" } : { during, after: "ok" },
        );
        await client.close();
      } finally {
        arbiter.proc.kill("SIGTERM");
        await arbiter.exit();
      }
    }),
  60_000,
);
