/**
 * How `ivsh bench` writes an output whole (output.ts's writeWhole, through a temporary file beside it): a
 * failed write is said as itself, and any name the checks let through can be written.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeJson } from "../../src/bench/output.ts";
import { cannotMount, withSmallTmpfs } from "../helpers/small-fs.ts";
import { testUnless } from "../helpers/tools.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync("/tmp/ivsh-bench-test-write-");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A directory that turned read-only during the run: the write failed (EROFS), and so did the removal of
 * its temporary file, whose error was thrown instead ("EROFS: read-only file system, rm …/.x.tmp"), naming
 * neither the output nor the write.
 */
testUnless(
  cannotMount,
  "a --json whose directory turned read-only: the write's failure is said",
  async () => {
    await withSmallTmpfs(join(dir, "read-only"), "1m", async (at) => {
      const remounted = Bun.spawnSync(["mount", "-o", "remount,ro", at]);
      expect(remounted.exitCode).toBe(0);
      const path = join(at, "results.json");
      await expect(writeJson(path, { run: 1 })).rejects.toThrow(
        `Failed to write ${path} since read-only file system (EROFS)`,
      );
    });
  },
);

/**
 * A name of 245–255 bytes is one the file system takes, and the checks passed it; the temporary file
 * beside it, `.NAME.PID.tmp`, was longer than 255 bytes, and the JSON was lost after the whole run
 * (ENAMETOOLONG).
 */
test("a --json named with the file system's full 255 bytes is written", async () => {
  const at = mkdtempSync(join(dir, "long-"));
  const path = join(at, `${"r".repeat(250)}.json`);
  await writeJson(path, { run: 2 });
  expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({ run: 2 });
  expect(readdirSync(at)).toEqual([`${"r".repeat(250)}.json`]);
});
