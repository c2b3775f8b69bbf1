/**
 * A state journal replaced under the arbiter while its compaction helper runs (an operator's `cp` and
 * `mv`, an editor's save, a restore from a copy: the same records in another file). The sweep writes a
 * replaced journal again from memory, but a helper that finished first was taken over: its snapshot and
 * the tail read from the other file were renamed over the path, the arbiter appended there from then on,
 * and what it had appended to its own file since the copy was in no journal (a restart lost it).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, readFileSync, renameSync } from "node:fs";
import { Compactor } from "../src/host/compaction.ts";
import type { StateRecord } from "../src/host/records.ts";
import { type CompactionPlan, StateFile } from "../src/host/state-file.ts";
import { beginRecord } from "./helpers/journal.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";

let paths: TestPaths;
const setting = process.env.IVSH_COMPACT_AFTER_RECORDS;
beforeAll(() => {
  paths = testPaths("compaction-replaced");
  process.env.IVSH_COMPACT_AFTER_RECORDS = "1"; // read when a StateFile is made
});
afterAll(() => {
  if (setting === undefined) delete process.env.IVSH_COMPACT_AFTER_RECORDS;
  else process.env.IVSH_COMPACT_AFTER_RECORDS = setting;
  paths?.cleanup();
});

function epochsIn(path: string): number[] {
  return readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as StateRecord)
    .flatMap((record) => (record.t === "epoch" ? [record.epoch] : []));
}

test("a journal replaced while its compaction runs is not taken over: what was appended since stays recorded", async () => {
  const path = `${paths.dir}/replaced.state`;
  const begin = beginRecord();
  const journal = StateFile.create(path, [begin]);
  for (let epoch = 2; epoch <= 5; epoch++) journal.append({ t: "epoch", epoch });
  // How the helper's result ended: taken over, or dropped (the sweep then writes the journal again).
  const ended = Promise.withResolvers<string>();
  const [takeOver, abandon] = [
    journal.finishCompaction.bind(journal),
    journal.abandonCompaction.bind(journal),
  ];
  journal.finishCompaction = (plan: CompactionPlan, result) => {
    takeOver(plan, result);
    ended.resolve("taken over");
  };
  journal.abandonCompaction = (plan: CompactionPlan) => {
    abandon(plan);
    ended.resolve("dropped");
  };
  const compactor = new Compactor(journal);
  try {
    compactor.maybeStart(); // a real `ivsh compact-state`: it reads the journal once it has started
    copyFileSync(path, `${path}.copy`);
    renameSync(`${path}.copy`, path);
    journal.append({ t: "epoch", epoch: 6 }); // into the file the arbiter holds, after the copy was made
    const how = await Promise.race([ended.promise, Bun.sleep(20_000).then(() => "no end")]);
    expect(how).not.toBe("no end");
    // Taken over, the path held the copy's records and the arbiter's appends from then on, epoch 6 in
    // neither, and it no longer noticed anything amiss. Dropped, the path still does not lead to its
    // journal, which the next sweep writes again from memory (epoch 6 with it).
    const lost = !epochsIn(path).includes(6) && journal.stillAtPath();
    expect({ how, lost }).toEqual({ how: "dropped", lost: false });
  } finally {
    compactor.stop();
    journal.close();
  }
}, 30_000);
