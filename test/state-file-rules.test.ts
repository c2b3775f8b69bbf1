/**
 * The state journal's own rules (src/host/state-file.ts), in-process on files of its own: a leftover
 * snapshot named after this process's pid is a dead arbiter's (that pid was reused) and is removed, as is
 * a dead writer's STATE.tmp-PID (a live one's is kept); a new journal leaves no temporary name beside it; a
 * journal just rewritten with a large snapshot is not compacted again until as many records were added;
 * IVSH_COMPACT_AFTER_RECORDS must be 1 or more.
 */
import { afterAll, afterEach, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StateRecord } from "../src/host/records.ts";
import { StateFile } from "../src/host/state-file.ts";
import { expectFailure } from "./helpers/errors.ts";

const directory = mkdtempSync(join(tmpdir(), "state-file-rules-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));
const setting = process.env.IVSH_COMPACT_AFTER_RECORDS;
afterEach(() => {
  if (setting === undefined) delete process.env.IVSH_COMPACT_AFTER_RECORDS;
  else process.env.IVSH_COMPACT_AFTER_RECORDS = setting;
});

const epochs = (count: number) =>
  Array.from({ length: count }, (_, index) => ({ t: "epoch", epoch: index + 1 }) as StateRecord);

test("a leftover snapshot whose pid is this process's own is a dead arbiter's: removed at the start", () => {
  const path = join(directory, "own-pid.state");
  const leftover = `${path}.compact-${process.pid}`;
  writeFileSync(leftover, "half a snapshot");
  const journal = StateFile.create(path, epochs(1));
  journal.close();
  expect(existsSync(leftover)).toBe(false);
});

test("a new journal takes its path and leaves nothing else beside it (no STATE.tmp-PID linked to it)", () => {
  const subdirectory = mkdtempSync(join(directory, "fresh-"));
  const journal = StateFile.create(join(subdirectory, "fresh.state"), epochs(1), true);
  journal.close();
  expect(readdirSync(subdirectory)).toEqual(["fresh.state"]);
});

test("a half-written STATE.tmp-PID of a dead writer is removed at the start, a live writer's kept", () => {
  const path = join(directory, "tmp-leftover.state");
  const exited = Bun.spawnSync(["true"]);
  const [dead, live] = [`${path}.tmp-${exited.pid}`, `${path}.tmp-1`];
  writeFileSync(dead, "half a snapshot");
  writeFileSync(live, "another arbiter's snapshot, being written");
  StateFile.create(path, epochs(1)).close();
  expect(existsSync(dead)).toBe(false);
  expect(existsSync(live)).toBe(true);
});

test("after a rewrite with a large snapshot, compaction waits for as many records as the snapshot holds", () => {
  process.env.IVSH_COMPACT_AFTER_RECORDS = "2";
  const journal = StateFile.create(join(directory, "large.state"), epochs(10));
  for (const record of epochs(5)) journal.append(record);
  // Past the setting (2), but a compaction now would rewrite 10 records to drop at most 5.
  expect(journal.needsCompaction).toBe(false);
  for (const record of epochs(6)) journal.append(record);
  expect(journal.needsCompaction).toBe(true);
  journal.close();
});

test("IVSH_COMPACT_AFTER_RECORDS of 0 is refused, naming it", () => {
  process.env.IVSH_COMPACT_AFTER_RECORDS = "0";
  expectFailure(
    () => StateFile.create(join(directory, "zero.state"), epochs(1)),
    "InvalidArgument",
    /IVSH_COMPACT_AFTER_RECORDS='0' since it is not a whole number of records of 1 or more/,
  );
});
