/**
 * The arbiter against a hostile or failing environment: a full file system under its journal, state and
 * region paths it cannot use, region files that are not regions or change under it, clients whose names
 * carry control characters. Each error names the file and what to do; none is a stack trace or a crash.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { testUnless, toolMissing } from "./helpers/tools.ts";

/** A small file system of our own to fill needs mount(2), that is root. */
const cannotMount =
  process.getuid?.() === 0 ? toolMissing("mount") : "only root can mount a small tmpfs to fill";

let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("host-faults");
});
afterAll(() => paths?.cleanup());

/** Mounts a 1 MiB tmpfs at DIR/NAME for `body`, unmounted after. */
async function withSmallTmpfs(name: string, body: (dir: string) => Promise<void>): Promise<void> {
  const dir = join(paths.dir, name);
  mkdirSync(dir);
  expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir]).exitCode).toBe(0);
  try {
    await body(dir);
  } finally {
    Bun.spawnSync(["umount", "-l", dir]);
  }
}

/** Fills the file system of `dir` with FILLER but `leave` bytes; returns the filler's path. */
function fill(dir: string, leave: number): string {
  const filler = join(dir, "filler");
  const fd = openSync(filler, "w");
  const page = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, page);
  } catch (error) {
    expect((error as { code?: string }).code).toBe("ENOSPC");
  }
  closeSync(fd);
  const size = statSync(filler).size;
  Bun.spawnSync(["truncate", "-s", String(Math.max(0, size - leave)), filler]);
  return filler;
}

testUnless(
  cannotMount,
  "a full file system under --state: NoSpace naming it, the refused alloc not applied, no torn record",
  () =>
    withSmallTmpfs("full-state", async (small) => {
      const state = join(small, "arbiter.state");
      const arbiter = await ArbiterProcess.start({ ...paths, state }, { size: "64MiB", blockSize: "64KiB" });
      const filler = fill(small, 12 * 1024);
      const client = await connect({ socket: paths.socket, region: paths.region });
      const held: string[] = [];
      let refused: unknown;
      try {
        for (let index = 0; index < 500; index++) {
          const name = `segment-${index}-${"x".repeat(200)}`;
          await client.alloc(4096, { name });
          held.push(name);
        }
      } catch (error) {
        refused = error;
      }
      await expectRejection(
        Promise.reject(refused),
        "NoSpace",
        /the state journal's file system is full \(ENOSPC\) at .*full-state; free space there or move --state/,
      );
      const status = (await fetchStatus({ unix: paths.socket })).report;
      expect(status.segments.length).toBe(held.length);
      expect(readFileSync(state, "utf8").endsWith("\n")).toBe(true);
      // With room again, the same client goes on.
      rmSync(filler);
      await client.alloc(4096, { name: "after-room" });
      // Stopped with the client's session open: the restart must bring back all it holds.
      await arbiter.stop();
      const stderr = await arbiter.spawned.stderr;
      expect(stderr).not.toMatch(/^\s+at /m);
      expect(stderr).not.toContain("hit a bug");
      expect(stderr.match(/state journal's file system is full/g)?.length).toBe(1);
      await arbiter.restart();
      const after = (await fetchStatus({ unix: paths.socket })).report;
      expect(after.segments.length).toBe(held.length + 1);
      await client.close();
      await arbiter.stop();
      expect(await arbiter.spawned.stderr).not.toContain("half-written");
    }),
  60_000,
);
