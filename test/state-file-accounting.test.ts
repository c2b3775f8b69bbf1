/**
 * Mutation round 15 on src/host/state-file.ts, in-process on journals of its own: a transaction begun
 * inside another joins it (one write, its effects after); the records counted toward a compaction are
 * those that reached the file (not failed writes), start again at 0 after a rewrite, and include what was
 * appended after a compaction's copy; a change whose write fails runs none of its region effects; after a
 * take-over, a failed write is cut back to the new file's end, not the old file's; a file of the journal's inode
 * number on another file system (mounted over its directory) is not the journal.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StateRecord } from "../src/host/records.ts";
import { JournalWriteFailed, StateFile } from "../src/host/state-file.ts";
import { loadStateFile } from "../src/host/state-read.ts";
import { beginRecord } from "./helpers/journal.ts";
import { cannotMount, fillFile, withSmallTmpfs } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

const directory = mkdtempSync(join(tmpdir(), "mut15-state-file-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));
const setting = process.env.IVSH_COMPACT_AFTER_RECORDS;
beforeAll(() => {
  process.env.IVSH_COMPACT_AFTER_RECORDS = "3";
});
afterEach(() => {
  process.env.IVSH_COMPACT_AFTER_RECORDS = "3";
});
afterAll(() => {
  if (setting === undefined) delete process.env.IVSH_COMPACT_AFTER_RECORDS;
  else process.env.IVSH_COMPACT_AFTER_RECORDS = setting;
});

const epoch = (value: number): StateRecord => ({ t: "epoch", epoch: value });
const lines = (path: string) => readFileSync(path, "utf8").trimEnd().split("\n").slice(1);
const epochsIn = (path: string) =>
  loadStateFile(path)!.records.flatMap((record) => (record.t === "epoch" ? [record.epoch] : []));

test("a transaction begun inside another joins it: one write led by one header, its effects after it", () => {
  const path = join(directory, "nested.state");
  const journal = StateFile.create(path, [beginRecord()]);
  let seenByEffect: string[] = [];
  journal.transaction(() => {
    journal.append(epoch(2));
    journal.afterWrite(() => {
      seenByEffect = lines(path);
    });
    journal.transaction(() => journal.append(epoch(3)));
    journal.append(epoch(4));
  });
  const written = [`{"t":"tx","n":3}`, ...[2, 3, 4].map((value) => JSON.stringify(epoch(value)))];
  expect(lines(path)).toEqual(written);
  expect(seenByEffect).toEqual(written);
  journal.close();
});

test("a rewrite starts the count toward a compaction again", () => {
  const journal = StateFile.create(join(directory, "rewrite.state"), [beginRecord()]);
  for (let value = 2; value <= 5; value++) journal.append(epoch(value));
  expect(journal.needsCompaction).toBe(true);
  journal.rewrite([beginRecord()]);
  expect(journal.needsCompaction).toBe(false);
  for (let value = 2; value <= 4; value++) journal.append(epoch(value));
  expect(journal.needsCompaction).toBe(false);
  journal.append(epoch(5));
  expect(journal.needsCompaction).toBe(true);
  journal.close();
});

test("a take-over counts the records appended after the compaction's copy toward the next one", () => {
  const path = join(directory, "taken-over.state");
  const journal = StateFile.create(path, [beginRecord()]);
  for (let value = 2; value <= 5; value++) journal.append(epoch(value));
  const plan = journal.compactionPlan();
  // What a helper writes: the snapshot of the first plan.upto bytes (here the begin and the last epoch).
  writeFileSync(plan.out, `${JSON.stringify({ ...beginRecord(), epoch: 5 })}\n`);
  for (let value = 6; value <= 9; value++) journal.append(epoch(value));
  journal.finishCompaction(plan, { snapshotRecords: 1, copiedUpto: plan.upto, tailRecords: 0 });
  expect(epochsIn(path)).toEqual([6, 7, 8, 9]);
  // 4 records appended since the snapshot, beyond the setting (3) and the snapshot's 1.
  expect(journal.needsCompaction).toBe(true);
  journal.close();
});

/** Waits until no descriptor of this process names `target` (a liveness bound, not a timing). */
async function descriptorsClosed(target: string): Promise<void> {
  const named = () =>
    readdirSync("/proc/self/fd").some((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === target;
      } catch {
        return false;
      }
    });
  for (const started = Date.now(); named(); await Bun.sleep(5))
    if (Date.now() - started > 20_000) throw new Error(`a descriptor still names ${target} after 20 s`);
}

/** Appends epochs from `first` until one is refused (its file system full); returns those written. */
function appendUntilRefused(journal: StateFile, first: number): number[] {
  const written: number[] = [];
  for (let value = first; value < first + 10_000; value++)
    try {
      journal.append(epoch(value));
      written.push(value);
    } catch (error) {
      expect(error).toBeInstanceOf(JournalWriteFailed);
      return written;
    }
  throw new Error("the journal's writes never failed on a full file system");
}

testUnless(
  cannotMount,
  "on a full file system: a refused change runs no effect and counts for no compaction; a take-over's size is the new file's",
  () =>
    withSmallTmpfs(join(directory, "small"), "1m", async (small) => {
      process.env.IVSH_COMPACT_AFTER_RECORDS = "1000";
      const path = join(small, "journal.state");
      const journal = StateFile.create(path, [beginRecord()]);
      try {
        for (let value = 2; value <= 200; value++) journal.append(epoch(value));
        const plan = journal.compactionPlan();
        writeFileSync(plan.out, `${JSON.stringify({ ...beginRecord(), epoch: 200 })}\n`);
        journal.finishCompaction(plan, { snapshotRecords: 1, copiedUpto: plan.upto, tailRecords: 0 });
        // The old file's last descriptor is closed off the event loop: once it is, its pages are free and
        // the filler takes them, else they would give the journal room again part way through.
        await descriptorsClosed(`${path} (deleted)`);
        const filler = join(small, "filler");
        fillFile(filler);
        const written = appendUntilRefused(journal, 201);
        let effects = 0;
        expect(() =>
          journal.transaction(() => {
            journal.append(epoch(100_000));
            journal.append(epoch(100_001));
            journal.afterWrite(() => effects++);
          }),
        ).toThrow(JournalWriteFailed);
        expect(effects).toBe(0);
        for (let refused = 0; refused < 10; refused++)
          expect(() => journal.append(epoch(100_002))).toThrow(JournalWriteFailed);
        rmSync(filler);
        // Only the records written count toward the setting (1000), not the 12 refused: the compaction
        // is due at the 1001st record appended since the take-over.
        expect(written.length).toBeLessThan(1000);
        const more: number[] = [];
        for (let value = 300_000; !journal.needsCompaction; value++) {
          journal.append(epoch(value));
          more.push(value);
        }
        expect(written.length + more.length).toBe(1001);
        // Every failed write was cut back to where the new file's last record ends, so it loads whole.
        expect(epochsIn(path)).toEqual([...written, ...more]);
      } finally {
        journal.close();
      }
    }),
  30_000,
);

testUnless(
  cannotMount,
  "a file of the same inode number on another file system, mounted over the journal's directory, is not the journal",
  () =>
    withSmallTmpfs(join(directory, "under"), "1m", async (under) => {
      const path = join(under, "journal.state");
      const journal = StateFile.create(path, [beginRecord()]);
      try {
        const { ino, dev } = statSync(path);
        expect(journal.stillAtPath()).toBe(true);
        await withSmallTmpfs(under, "1m", async () => {
          // A fresh tmpfs numbers its inodes from the start too: make files until the next is that number.
          for (let spare = 0; spare < 100; spare++) {
            writeFileSync(path, "");
            if (statSync(path).ino >= ino) break;
            renameSync(path, join(under, `spare-${spare}`));
          }
          const over = statSync(path);
          expect([over.ino, over.dev === dev]).toEqual([ino, false]);
          expect(journal.stillAtPath()).toBe(false);
        });
      } finally {
        journal.close();
      }
    }),
  30_000,
);
