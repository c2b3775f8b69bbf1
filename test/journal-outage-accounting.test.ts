/**
 * Mutation round 15 on src/host/journal-outage.ts, in-process: what the operator is told of an outage
 * (the error once per 10 s, not per refusal; a second outage said at its first refusal, counting only its
 * own refusals; its length from its first refusal), late ends retried at once when a full file system has
 * room again, and a transaction let through stays let through when its own changes take that room.
 */
import { afterAll, afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statfsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JournalOutage } from "../src/host/journal-outage.ts";
import { JournalWriteFailed, type StateFile } from "../src/host/state-file.ts";
import { log } from "../src/log.ts";
import { cannotMount, fillFile, withSmallTmpfs } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

const directory = mkdtempSync(join(tmpdir(), "mut15-outage-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));
const [error, info] = [log.error, log.info];
afterEach(() => {
  Object.assign(log, { error, info });
});

/** Lines `log` says at `level` from now on, instead of writing them. */
function said(level: "error" | "info"): string[] {
  const lines: string[] = [];
  log[level] = (...parts: unknown[]) => lines.push(parts.join(" "));
  return lines;
}

function outageIn(directory: string, errno = "EIO") {
  const outage = new JournalOutage();
  const file = { path: join(directory, "outage.state"), append() {} } as unknown as StateFile;
  const journal = outage.gate(file);
  const cause = Object.assign(new Error(`write: ${errno}`), { code: errno });
  const failed = new JournalWriteFailed("JournalFull", `could not write the journal (${errno})`, { cause });
  return { outage, journal, failed };
}

test("the error is said once for many refusals; a second outage is said at once and counts only its own", () => {
  const [errors, infos] = [said("error"), said("info")];
  const { outage, failed } = outageIn("/nonexistent-ivsh-mut15");
  for (let refusal = 0; refusal < 3; refusal++) outage.refusedChange(failed);
  expect(errors).toHaveLength(1);
  expect(outage.report()?.refused).toBe(3);
  outage.recorded("/nonexistent-ivsh-mut15/outage.state");
  expect(infos).toHaveLength(1);
  expect(infos[0]).toContain(": 3 were refused in the");
  // Within the 10 s since the first outage was said: the next one is said all the same.
  for (let refusal = 0; refusal < 2; refusal++) outage.refusedChange(failed);
  expect(errors).toHaveLength(2);
  expect(outage.report()?.refused).toBe(2);
  outage.recorded("/nonexistent-ivsh-mut15/outage.state");
  expect(infos[1]).toContain(": 2 were refused in the");
});

test("an outage's length counts from its first refusal, not its last", async () => {
  said("error");
  const { outage, failed } = outageIn("/nonexistent-ivsh-mut15");
  outage.refusedChange(failed);
  await Bun.sleep(300);
  outage.refusedChange(failed);
  expect(outage.report()!.forMs).toBeGreaterThanOrEqual(300);
});

test("a full file system (ENOSPC) with room again takes changes at once: late ends need not wait for the probe", () => {
  said("error");
  const { outage, failed } = outageIn(tmpdir(), "ENOSPC");
  outage.refusedChange(failed);
  expect(outage.takesChanges()).toBe(true);
});

testUnless(
  cannotMount,
  "a transaction let through for room again is let through whole, though its first change took that room",
  () =>
    withSmallTmpfs(join(directory, "small"), "1m", async (small) => {
      said("error");
      const { outage, journal, failed } = outageIn(small, "ENOSPC");
      outage.refusedChange(failed); // the probe is a second away: only room lets a change through
      const admitted: string[] = [];
      outage.transaction(() => {
        journal.admit!();
        admitted.push("first");
        fillFile(join(small, "filler")); // its alloc zeroed blocks of a region on this file system
        journal.admit!();
        admitted.push("second");
      });
      expect(admitted).toEqual(["first", "second"]);
      // The room was taken indeed: the next transaction would be refused up front.
      const { bavail, bsize } = statfsSync(small);
      expect(bavail * bsize).toBeLessThan(64 * 1024);
    }),
  30_000,
);
