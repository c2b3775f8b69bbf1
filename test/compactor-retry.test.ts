/**
 * When the arbiter's Compactor (src/host/compaction.ts) starts another `ivsh compact-state` helper: not
 * again at once after one failed (it waits a minute, or a journal it cannot compact would get a helper and
 * a warning every sweep), and at once after one it cancelled (that one's end is no failure). The journal is
 * a stand-in whose file is missing, so every real helper fails.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Compactor } from "../src/host/compaction.ts";
import type { CompactionPlan, StateFile } from "../src/host/state-file.ts";
import { EXIT_BOUND_MS, eventually } from "./helpers/processes.ts";

const dir = mkdtempSync(join(tmpdir(), "ivsh-compactor-retry-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function journalWithoutFile(name: string) {
  const seen = { plans: 0, abandoned: 0, finished: 0 };
  const abandonedOnce = Promise.withResolvers<void>();
  const journal = {
    path: join(dir, `${name}.state`), // never made: the helper fails reading it
    needsCompaction: true,
    stillAtPath: () => true,
    compactionPlan: (): CompactionPlan => {
      seen.plans++;
      return { upto: 100, out: join(dir, `${name}.compact`), failedWrites: 0 };
    },
    abandonCompaction: () => {
      seen.abandoned++;
      abandonedOnce.resolve();
    },
    finishCompaction: () => {
      seen.finished++;
    },
  } as unknown as StateFile;
  return { journal, seen, abandoned: abandonedOnce.promise };
}

test("after a helper failed, the next sweep starts none: compaction is tried again later, not every sweep", async () => {
  const { journal, seen, abandoned } = journalWithoutFile("failing");
  const compactor = new Compactor(journal);
  try {
    compactor.maybeStart();
    expect(seen.plans).toBe(1);
    await abandoned; // the helper failed and its plan was dropped
    compactor.maybeStart();
    compactor.maybeStart();
    expect(seen).toEqual({ plans: 1, abandoned: 1, finished: 0 });
  } finally {
    compactor.stop();
  }
}, 30_000);

test("a helper cancelled (its journal written again) is no failure: the next sweep after its end starts another", async () => {
  const { journal, seen } = journalWithoutFile("cancelled");
  const compactor = new Compactor(journal);
  try {
    compactor.maybeStart();
    compactor.cancel();
    // Once the cancelled helper has ended, a sweep starts the next at once: no minute's wait as after a failure.
    await eventually(
      async () => {
        compactor.maybeStart();
        return seen.plans === 2;
      },
      EXIT_BOUND_MS,
      "a helper after the cancelled one",
    );
    expect(seen.finished).toBe(0);
  } finally {
    compactor.stop();
  }
}, 60_000);
