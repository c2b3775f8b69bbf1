/**
 * The gate in front of a state journal that cannot be written (src/host/journal-outage.ts), in-process:
 * while it refuses, changes are refused up front, but one is let through a second after the write that
 * failed (refusals up front do not put that off); once a write went through, nothing is refused up front.
 */
import { expect, test } from "bun:test";
import { JournalOutage, RefusedUpFront } from "../src/host/journal-outage.ts";
import { JournalWriteFailed, type StateFile } from "../src/host/state-file.ts";

/** A journal in a directory that does not exist: its free space is never known, so only the probe lets a change through. */
function gated() {
  const outage = new JournalOutage();
  const file = { path: "/nonexistent-ivsh-test/state", append() {}, afterWrite() {} } as unknown as StateFile;
  const journal = outage.gate(file);
  const failed = new JournalWriteFailed("StateInvalid", "could not write the journal (EIO)");
  /** As the arbiter does with each change: admit it, or count its refusal. */
  const tryChange = (): boolean => {
    try {
      journal.admit?.();
      return true;
    } catch (error) {
      if (!(error instanceof RefusedUpFront)) throw error;
      outage.refusedChange(error);
      return false;
    }
  };
  return { outage, failed, tryChange };
}

test("changes refused up front do not put off the probe: one goes through a second after the failed write", async () => {
  const { outage, failed, tryChange } = gated();
  outage.refusedChange(failed);
  expect(tryChange()).toBe(false);
  // A busy arbiter: a change every 100 ms, for longer than the probe's second (a slow machine only makes
  // the sleeps longer): one of them is let through.
  let admitted = false;
  for (let at = 0; at < 12 && !admitted; at++) {
    await Bun.sleep(100);
    admitted = tryChange();
  }
  expect(admitted).toBe(true);
});

test("once a write went through, the outage is over: the next change is not refused up front", () => {
  const { outage, failed, tryChange } = gated();
  outage.refusedChange(failed);
  expect(tryChange()).toBe(false);
  outage.recorded("/nonexistent-ivsh-test/state");
  expect(outage.report()).toBeUndefined();
  expect(tryChange()).toBe(true);
});
