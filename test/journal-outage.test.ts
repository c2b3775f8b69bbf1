/**
 * While the journal refuses changes, one is let through early only when its file system has room again.
 * statfs tells that for a full file system (ENOSPC), not under a quota (EDQUOT), where it shows room all
 * along: read as room, every change would be applied, refused by its write and undone by replaying the
 * whole journal (the cost up-front refusal exists to avoid). In-process: no quota to exhaust here.
 */
import { expect, test } from "bun:test";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JournalOutage, RefusedUpFront } from "../src/host/journal-outage.ts";
import { JournalWriteFailed, type StateFile } from "../src/host/state-file.ts";
import { log } from "../src/log.ts";

function outageAfter(errno: string) {
  log.level = "error";
  const outage = new JournalOutage();
  // A journal in a directory with room (statfs sees it); its writes are not reached here.
  const file = { path: join(tmpdir(), "journal-outage.state"), append() {} } as unknown as StateFile;
  const journal = outage.gate(file);
  const cause = Object.assign(new Error(`write: ${errno}`), { code: errno });
  outage.refusedChange(new JournalWriteFailed("JournalFull", `the journal is full (${errno})`, { cause }));
  return journal;
}

test("a full file system (ENOSPC) with room again: the next change is let through at once", () => {
  expect(() => outageAfter("ENOSPC").admit!()).not.toThrow();
});

test("a quota (EDQUOT), where statfs shows room all along: changes wait for the probe, refused up front", () => {
  expect(() => outageAfter("EDQUOT").admit!()).toThrow(RefusedUpFront);
});
