/**
 * The journal keeper (src/host/journal-keeper.ts) with its journal, compactor and snapshot injected: a
 * journal found gone is written again, a compaction under way cancelled first; one that cannot be
 * written is said once, not at every sweep, and said again
 * after it was written and went missing again.
 */
import { afterEach, expect, spyOn, test } from "bun:test";
import type { Compactor } from "../src/host/compaction.ts";
import { JournalKeeper } from "../src/host/journal-keeper.ts";
import type { StateFile } from "../src/host/state-file.ts";
import { log } from "../src/log.ts";

const spies: { mockRestore(): void }[] = [];
afterEach(() => {
  for (const spy of spies.splice(0)) spy.mockRestore();
});

function keeper() {
  const calls: string[] = [];
  const journal = { at: true, writable: true };
  const stateFile = {
    path: "/nowhere/arbiter.state",
    stillAtPath: () => journal.at,
    rewrite: () => {
      calls.push("rewrite");
      if (!journal.writable) throw new Error("ENOSPC");
      journal.at = true;
    },
  } as unknown as StateFile;
  const compactor = { cancel: () => calls.push("cancel") } as unknown as Compactor;
  const errors = spyOn(log, "error").mockImplementation(() => {});
  const warnings = spyOn(log, "warn").mockImplementation(() => {});
  spies.push(errors, warnings);
  return { keeper: new JournalKeeper(stateFile, compactor, () => []), journal, calls, errors, warnings };
}

test("a journal at its path is left alone; one gone is written again after cancelling a compaction", () => {
  const { keeper: kept, journal, calls, warnings } = keeper();
  expect(kept.keep()).toBe(true);
  expect(calls).toEqual([]);
  journal.at = false;
  expect(kept.keep()).toBe(true);
  expect(calls).toEqual(["cancel", "rewrite"]);
  expect(warnings).toHaveBeenCalledTimes(1);
});

test("a journal that cannot be written again is said once; said again once it was written and went again", () => {
  const { keeper: kept, journal, errors } = keeper();
  journal.at = false;
  journal.writable = false;
  for (let sweep = 0; sweep < 3; sweep++) expect(kept.keep()).toBe(false);
  expect(errors).toHaveBeenCalledTimes(1);
  journal.writable = true;
  expect(kept.keep()).toBe(true);
  journal.at = false;
  journal.writable = false;
  expect(kept.keep()).toBe(false);
  expect(errors).toHaveBeenCalledTimes(2);
});
