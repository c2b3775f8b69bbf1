/**
 * Reading a --state file (src/host/state-read.ts) at its edges: only a last line without its newline is a
 * torn write; a first record other than 'begin', a 'begin' whose geometry is null, a path stat(2) refuses
 * for another reason than ENOENT, and a file this user may not read are each refused, saying so.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { STATE_FORMAT } from "../src/host/records.ts";
import { loadStateFile, parseStateLines, stateFileExists } from "../src/host/state-read.ts";
import { notRoot, runAsNobody } from "./helpers/as-nobody.ts";
import { expectFailure } from "./helpers/errors.ts";
import { REPO, type TestPaths, testPaths } from "./helpers/paths.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("state-read-edges");
});
afterAll(() => paths?.cleanup());

const begin = JSON.stringify({ t: "begin", format: STATE_FORMAT, region: "/dev/shm/r", geometry: {} });
const epoch = JSON.stringify({ t: "epoch", epoch: 2 });

test("a last line without its newline is a torn write: left out and reported", () => {
  const loaded = parseStateLines(`${begin}\n${epoch}\n{"t":"seg`, "state");
  expect(loaded.tornTail).toBe(true);
  expect(loaded.records.map((record) => record.t)).toEqual(["begin", "epoch"]);
  expect(loaded.lines).toEqual([1, 2]);
});

test("a last line that is not JSON but ended by its newline was written whole: refused naming it, not skipped", () => {
  expectFailure(
    () => parseStateLines(`${begin}\n${epoch}\nnot json\n`, "state"),
    "StateInvalid",
    /line 3 is not a JSON record: the file is damaged/,
  );
});

test("a state file whose first record is not 'begin' is refused as not a state file", () => {
  const path = join(paths.dir, "no-begin.state");
  writeFileSync(path, `${epoch}\n${begin}\n`);
  expectFailure(() => loadStateFile(path), "StateInvalid", /does not start with a 'begin' record/);
});

test("a 'begin' record whose geometry is null is refused as damaged, not resumed from", () => {
  const path = join(paths.dir, "null-geometry.state");
  writeFileSync(
    path,
    `${JSON.stringify({ t: "begin", format: STATE_FORMAT, region: "/r", geometry: null })}\n`,
  );
  expectFailure(() => loadStateFile(path), "StateInvalid", /'begin' record has no region or geometry/);
});

test("a state path stat(2) refuses with ENOTDIR is not taken for a missing file (that would format the region anew)", () => {
  const file = join(paths.dir, "plain-file");
  writeFileSync(file, "");
  expectFailure(() => stateFileExists(join(file, "state")), "StateInvalid", /reading it failed with ENOTDIR/);
});

test("a state file this user may not read: PermissionDenied saying what to do", () => {
  if (notRoot) return void console.log(`skipped: ${notRoot}`);
  const path = join(paths.dir, "root-only.state");
  writeFileSync(path, `${begin}\n`);
  chmodSync(path, 0o600);
  chmodSync(paths.dir, 0o755);
  const script = join(paths.dir, "load.ts");
  writeFileSync(
    script,
    `import { loadStateFile } from ${JSON.stringify(join(REPO, "src/host/state-read.ts"))};\n` +
      "try { loadStateFile(process.argv[2]); console.log('loaded'); } catch (e) { console.log(e.code + ': ' + e.message); }\n",
  );
  chmodSync(script, 0o644);
  const said = runAsNobody(script, [path]).trim();
  expect(said).toStartWith("PermissionDenied: ");
  expect(said).toContain("this user may not read it (EACCES)");
});
