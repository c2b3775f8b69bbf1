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
import { StateFile } from "../src/host/state-file.ts";
import { beginRecord, compactAfterRecordsInThisFile, nextCompactionEnd } from "./helpers/journal.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("compaction-replaced");
});
afterAll(() => paths?.cleanup());
compactAfterRecordsInThisFile(1);

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
  const ended = nextCompactionEnd(journal);
  const compactor = new Compactor(journal);
  try {
    compactor.maybeStart(); // a real `ivsh compact-state`: it reads the journal once it has started
    copyFileSync(path, `${path}.copy`);
    renameSync(`${path}.copy`, path);
    journal.append({ t: "epoch", epoch: 6 }); // into the file the arbiter holds, after the copy was made
    const how = await Promise.race([ended, Bun.sleep(20_000).then(() => "no end")]);
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
