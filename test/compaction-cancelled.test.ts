/**
 * A compaction cancelled while its helper ran (the journal removed or replaced under the arbiter, or its
 * path taken by another arbiter: JournalKeeper) left the snapshot the helper had written,
 * STATE.compact-PID beside the journal: tens of megabytes in /dev/shm for a large state, kept while the
 * arbiter ran (a taken arbiter never writes its journal there again, which would have removed it). A
 * stop's end of a helper removed it; a cancel's did not. The helper is a real `ivsh compact-state`.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { Compactor } from "../src/host/compaction.ts";
import { StateFile } from "../src/host/state-file.ts";
import { beginRecord, compactAfterRecordsInThisFile } from "./helpers/journal.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { eventually, livenessBoundMs } from "./helpers/processes.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("compaction-cancelled");
});
afterAll(() => paths?.cleanup());
compactAfterRecordsInThisFile(1);

test("a compaction cancelled while its helper runs leaves no snapshot file behind", async () => {
  const path = `${paths.dir}/cancelled.state`;
  const journal = StateFile.create(path, [beginRecord()]);
  for (let epoch = 2; epoch <= 5; epoch++) journal.append({ t: "epoch", epoch });
  const compactor = new Compactor(journal);
  const { out } = journal.compactionPlan();
  try {
    // What the helper writes first (it empties it, then writes its snapshot there): made here as well,
    // as the helper, killed at once, may not have got that far.
    writeFileSync(out, "");
    compactor.maybeStart();
    compactor.cancel(); // as the keeper does, in the same turn: the helper's result is never taken over
    await eventually(async () => !existsSync(out), livenessBoundMs(0), `${out} to be removed`);
    expect(existsSync(out)).toBe(false);
  } finally {
    compactor.stop();
    journal.close();
  }
}, 30_000);
