/** State journals for tests of the journal itself: the begin record every journal starts with, compactions. */
import { afterAll, beforeAll } from "bun:test";
import { STATE_FORMAT, type StateRecord } from "../../src/host/records.ts";
import type { CompactionPlan, StateFile } from "../../src/host/state-file.ts";
import { computeGeometry } from "../../src/region/layout.ts";

/** A small region's geometry: 1 MiB in 4 KiB blocks, 16 slots. */
export const SMALL_GEOMETRY = computeGeometry(1 << 20, 4096, 16);

/** The first record of a fresh journal for region "r" at epoch 1, nothing allocated yet. */
export function beginRecord(geometry = SMALL_GEOMETRY): Extract<StateRecord, { t: "begin" }> {
  return {
    t: "begin",
    format: STATE_FORMAT,
    region: "r",
    geometry,
    epoch: 1,
    nextClientId: 1,
    nextSegmentId: 1,
  };
}

/**
 * Makes the StateFiles a test file creates compact after `records` appended records (the setting is read
 * when one is made), and puts the environment back after the file's tests.
 */
export function compactAfterRecordsInThisFile(records: number): void {
  const setting = process.env.IVSH_COMPACT_AFTER_RECORDS;
  beforeAll(() => {
    process.env.IVSH_COMPACT_AFTER_RECORDS = String(records);
  });
  afterAll(() => {
    if (setting === undefined) delete process.env.IVSH_COMPACT_AFTER_RECORDS;
    else process.env.IVSH_COMPACT_AFTER_RECORDS = setting;
  });
}

/** How `journal`'s next compaction ends: its result taken over, or dropped (the file left as it was). */
export function nextCompactionEnd(journal: StateFile): Promise<"taken over" | "dropped"> {
  const ended = Promise.withResolvers<"taken over" | "dropped">();
  const [takeOver, abandon] = [
    journal.finishCompaction.bind(journal),
    journal.abandonCompaction.bind(journal),
  ];
  journal.finishCompaction = (plan: CompactionPlan, result) => {
    takeOver(plan, result); // throws when it must not take over: the compactor then drops it
    ended.resolve("taken over");
  };
  journal.abandonCompaction = (plan: CompactionPlan) => {
    abandon(plan);
    ended.resolve("dropped");
  };
  return ended.promise;
}
