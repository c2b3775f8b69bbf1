/**
 * A first start (no journal yet) whose --state is on a full or read-only file system: the advice is to pass
 * a --state with room, not "stop the arbiter, move STATE to a writable file system ...", which named a
 * file that did not exist and an arbiter that was not running. `ivsh host` runs as its own process.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { expectOneLine, runHost } from "./helpers/host-run.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { cannotMount, fillFile, withSmallTmpfs } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("host-state-first-start");
});
afterAll(() => paths?.cleanup());

async function firstStart(name: string, stateDir: string) {
  const region = join(paths.shmDir, name);
  const state = join(stateDir, "arbiter.state");
  const result = await runHost({ region, socket: join(paths.dir, `${name}.sock`), state });
  expect(result.exitCode).toBe(1);
  expectOneLine(result.stderr, `Failed to write the state file ${state} since`);
  expect(result.stderr).toContain("pass --state on a writable file system with room");
  expect(result.stderr).not.toContain("stop the arbiter");
  expect(existsSync(region)).toBe(false);
  return result.stderr;
}

testUnless(
  cannotMount,
  "a first start on a full file system: ENOSPC, and pass a --state with room",
  () =>
    withSmallTmpfs(join(paths.dir, "full"), "1m", async (small) => {
      fillFile(join(small, "filler"));
      expect(await firstStart("full", small)).toContain("file system is full (ENOSPC)");
      expect(readdirSync(small)).toEqual(["filler"]);
    }),
  60_000,
);

testUnless(
  cannotMount,
  "a first start on a read-only file system: EROFS, and pass a --state with room",
  () =>
    withSmallTmpfs(join(paths.dir, "read-only"), "1m", async (mounted) => {
      Bun.spawnSync(["mount", "-o", "remount,ro", mounted]);
      expect(await firstStart("read-only", mounted)).toContain("read-only file system (EROFS)");
    }),
  60_000,
);
