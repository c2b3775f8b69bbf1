/**
 * A full state journal under load: every change is refused (JournalFull) until there is room again, and the
 * refusals must not each cost the arbiter a replay of its whole journal (an operator trial: 138 ms per
 * refused alloc with 60 000 segments, the event loop held up for every client). Only a change that was
 * applied before its write failed is undone that way: about one a second, not one per request.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { type Spawned, spawnFixture } from "./helpers/processes.ts";
import { cannotMount, fillFile, withSmallTmpfs } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("journal-refusals");
});
afterAll(() => paths?.cleanup());

/** Fills the file system of `dir` to the last byte; returns the filler's path. */
function fill(dir: string): string {
  const filler = join(dir, "filler");
  fillFile(filler);
  return filler;
}

async function census(arbiter: Spawned): Promise<Record<string, unknown>> {
  arbiter.proc.stdin.write("census\n");
  arbiter.proc.stdin.flush();
  return arbiter.events.next("census");
}

testUnless(
  cannotMount,
  "requests refused by a full journal are refused up front: the state is replayed about once a second, not per request",
  () =>
    withSmallTmpfs(join(paths.dir, "small"), "1m", async (small) => {
      const arbiter = spawnFixture("probed-arbiter", {
        region: paths.region,
        socket: paths.socket,
        state: join(small, "arbiter.state"),
      });
      try {
        await arbiter.events.next("serving");
        const client = await connect({ socket: paths.socket, region: paths.region, name: "refused" });
        const filler = fill(small);
        const started = performance.now();
        const outcome = (name: string) =>
          client.alloc(4096, { name: `${name}-${"x".repeat(200)}` }).then(
            () => "ok",
            (error: { code?: string }) => String(error.code),
          );
        // The journal's last page may take a few changes yet.
        for (let index = 0; index < 200 && (await outcome(`room-${index}`)) === "ok"; index++);
        const codes = new Set<string>();
        for (let index = 0; index < 100; index++) codes.add(await outcome(`refused-${index}`));
        const seconds = (performance.now() - started) / 1000;
        expect([...codes]).toEqual(["JournalFull"]);
        // One replay for the first refusal, then at most one per second that the refusals took.
        expect(Number((await census(arbiter)).reloads)).toBeLessThanOrEqual(2 + Math.ceil(seconds));
        // With room again, the next change is taken at once (the file system says it has room).
        rmSync(filler);
        expect(await outcome("with-room")).toBe("ok");
        await client.close();
      } finally {
        arbiter.proc.kill("SIGTERM");
        await arbiter.exit();
      }
    }),
  60_000,
);
