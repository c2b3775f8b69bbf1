/**
 * A journal write that fails part way (its file system full) is cut back to the last whole record. A
 * compaction helper copying the journal meanwhile may have taken the torn start: the take-over would then
 * skip as many bytes of the records written after it, and a restart would lose them. So a compaction
 * during which a write failed is dropped, to be tried again, never taken over.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { Compactor } from "../src/host/compaction.ts";
import { JournalWriteFailed, StateFile } from "../src/host/state-file.ts";
import { loadStateFile } from "../src/host/state-read.ts";
import { beginRecord, compactAfterRecordsInThisFile, nextCompactionEnd } from "./helpers/journal.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { cannotMount, fillFile, withSmallTmpfs } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("compaction-failed-write");
});
afterAll(() => paths?.cleanup());
compactAfterRecordsInThisFile(1);

/**
 * A journal at `path` of epochs 2 to 5 and a real `ivsh compact-state` started on it, which has not read
 * anything yet; `ended`: how that compaction ends.
 */
function journalBeingCompacted(path: string) {
  const journal = StateFile.create(path, [beginRecord()]);
  for (let epoch = 2; epoch <= 5; epoch++) journal.append({ t: "epoch", epoch });
  const ended = nextCompactionEnd(journal);
  const compactor = new Compactor(journal);
  compactor.maybeStart();
  return { journal, ended, compactor };
}

testUnless(
  cannotMount,
  "a journal write that failed while a compaction ran: the compaction is dropped, every record kept",
  () =>
    withSmallTmpfs(join(paths.dir, "small"), "1m", async (small) => {
      const path = join(small, "journal.state");
      const { journal, ended, compactor } = journalBeingCompacted(path);
      try {
        // The file system fills: the journal's last page takes a few records yet, then one fails.
        const filler = join(small, "filler");
        fillFile(filler);
        const written = [2, 3, 4, 5];
        let failed: unknown;
        for (let epoch = 6; epoch < 1000 && !failed; epoch++)
          try {
            journal.append({ t: "epoch", epoch });
            written.push(epoch);
          } catch (error) {
            failed = error;
          }
        expect(failed).toBeInstanceOf(JournalWriteFailed);
        rmSync(filler); // room again
        journal.append({ t: "epoch", epoch: 1000 });
        const how = await Promise.race([ended, Bun.sleep(20_000).then(() => "no end")]);
        expect(how).toBe("dropped");
        const epochs = loadStateFile(path)!.records.flatMap((record) =>
          record.t === "epoch" ? [record.epoch] : [],
        );
        expect(epochs).toEqual([...written, 1000]);
      } finally {
        compactor.stop();
        journal.close();
      }
    }),
  30_000,
);

// Mutation round 31: the outage's trial write (StateFile.tryWrite, each sweep while the journal refuses)
// puts a page at the journal's end and cuts it off again, as a failed write is cut back. A helper copying
// meanwhile may have taken those empty lines: the take-over would skip as many bytes of what follows.
test("a trial write (the outage's, at each sweep) while a compaction ran: the compaction is dropped, every record kept", async () => {
  const path = join(paths.dir, "trial.state");
  const { journal, ended, compactor } = journalBeingCompacted(path);
  try {
    journal.tryWrite(); // taken, and cut off again
    journal.append({ t: "epoch", epoch: 6 });
    const how = await Promise.race([ended, Bun.sleep(20_000).then(() => "no end")]);
    expect(how).toBe("dropped");
    const epochs = loadStateFile(path)!.records.flatMap((record) =>
      record.t === "epoch" ? [record.epoch] : [],
    );
    expect(epochs).toEqual([2, 3, 4, 5, 6]);
  } finally {
    compactor.stop();
    journal.close();
  }
}, 30_000);
