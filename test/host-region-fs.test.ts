/**
 * `ivsh host` warns, once, when --region is on a disk file system: the region works, but every page
 * written to it is written back to disk and its contents stay in the file. tmpfs (/dev/shm) is quiet.
 */
import { afterEach, expect, test } from "bun:test";
import { statfsSync } from "node:fs";
import { join } from "node:path";
import { TMPFS_MAGIC } from "../src/region/region-file.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { testUnless } from "./helpers/tools.ts";

let paths: TestPaths;

afterEach(() => paths?.cleanup());

/** The warning's own words, as the arbiter logs them. */
const WARNING = /WARN --region (\S+) is on a disk file system \(([^)]+)\)/g;

async function arbiterStderr(region: string): Promise<string> {
  const arbiter = await ArbiterProcess.start({ ...paths, region });
  await arbiter.stop();
  return arbiter.spawned.stderr;
}

/** Whether the test paths' /tmp directory is on a disk (it is on these machines; tmpfs on some). */
function onDisk(directory: string): boolean {
  return statfsSync(directory).type !== TMPFS_MAGIC;
}

testUnless(
  onDisk("/tmp") ? undefined : "/tmp is tmpfs here: the test paths have no directory on a disk",
  "a region under /tmp on a disk file system: one warning naming the file system type, advising /dev/shm",
  async () => {
    paths = testPaths("region-fs");
    const region = join(paths.dir, "region");
    const stderr = await arbiterStderr(region);
    const warnings = [...stderr.matchAll(WARNING)];
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.[1]).toBe(region);
    // statfs names it by number: known ones by name, others as "type 0x..."; never empty.
    expect(warnings[0]?.[2]).toMatch(/\S/);
    expect(stderr).toContain("put it in /dev/shm");
  },
  60_000,
);

test("a region in /dev/shm (tmpfs): no such warning", async () => {
  paths = testPaths("region-fs-shm");
  expect(onDisk(paths.shmDir)).toBe(false);
  const stderr = await arbiterStderr(paths.region);
  expect(stderr).not.toContain("disk file system");
  expect(stderr).toContain("arbiter serving");
}, 60_000);
