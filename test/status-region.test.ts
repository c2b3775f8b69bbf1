/**
 * `ivsh status` asks the arbiter at --socket and maps no region: a --region naming another region than
 * that arbiter's was ignored without a word, and its user read one region's status for another's.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { symlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, runCli } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("status-region");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("a --region the arbiter at --socket does not serve is named in a warning; the status still shows", async () => {
  const other = join(paths.shmDir, "another-region");
  writeFileSync(other, "");
  for (const region of [other, join(paths.shmDir, "no-such-region")]) {
    const result = await runCli(["status", "--socket", paths.socket, "--region", region, "--limit", "0"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain(`region ${paths.region}:`);
    expect(result.stderr).toContain(`--region ${region} is not the region of the arbiter at ${paths.socket}`);
  }
});

test("the arbiter's own region, however it is named (relative, through a link), draws no warning", async () => {
  const link = join(paths.dir, "region-link");
  symlinkSync(paths.region, link);
  for (const region of [paths.region, relative(process.cwd(), paths.region), link]) {
    const result = await runCli(["status", "--socket", paths.socket, "--region", region, "--limit", "0"]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe("");
  }
});

test("a --region that cannot be looked up (a path through a file) is warned about too, not a failed status", async () => {
  const file = join(paths.dir, "a-file");
  writeFileSync(file, "");
  // stat says ENOTDIR here (EACCES for a directory this user may not search): the status was lost to it.
  const region = join(file, "region");
  const result = await runCli(["status", "--socket", paths.socket, "--region", region, "--limit", "0"]);
  expect(result.stderr).toContain(`--region ${region} is not the region of the arbiter at ${paths.socket}`);
  expect(result.stdout).toContain(`region ${paths.region}:`);
  expect(result.exitCode).toBe(0);
});
