/**
 * A close() the state journal let through (the first change of an outage, or the once-a-second probe)
 * whose write then failed (its file system full). The arbiter undid the close in memory, by replaying the
 * journal, and told the client JournalFull, but the region kept what the close had done to it before the
 * write: the closing client's lock released as owner-died (another holder took it while the client that
 * was told its close failed still held it), and, the closer being the slot's last holder, the slot's
 * words zeroed (its lock free, to be taken by the next to open the name).
 */
import { expect } from "bun:test";
import type { Mutex } from "../src/guest/index.ts";
import { outcome, smallJournals } from "./helpers/full-journal.ts";
import { cannotMount } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

const withSmallJournal = smallJournals("journal-failed-close");

/** While the journal refuses, one change a second is let through to find out whether it still does. */
const PAST_PROBE_MS = 1200;

/**
 * Closes `fillers` one by one (each a change of the same records as a close of a slot another client still
 * holds) until one let through by the probe is refused: the journal's file then has less room than such a
 * close needs, and the next change let through fails in its write.
 */
async function untilNoRoomForAClose(fillers: Mutex[]): Promise<void> {
  let probed = false;
  for (const filler of fillers) {
    for (;;) {
      const closed = await outcome(filler.close());
      if (closed === "ok") break;
      expect(closed).toBe("JournalFull");
      if (probed) return;
      await Bun.sleep(PAST_PROBE_MS);
      probed = true;
    }
    probed = false;
  }
  throw new Error("the journal took every close: its file system was not full");
}

testUnless(
  cannotMount,
  "a close() whose journal write fails leaves the region as the refusal says: the lock and the slot's words are still the closer's",
  () =>
    withSmallJournal("small", async ({ connect, fill }) => {
      const holder = await connect("holder");
      const other = await connect("other");
      // Slots 0..39, held by both: closing one of them is a sync-release and a reply, as closing "shared".
      const fillers: Mutex[] = [];
      for (let index = 0; index < 40; index++) {
        fillers.push(await holder.mutex(`filler-${index}`));
        await other.mutex(`filler-${index}`);
      }
      const shared = await holder.mutex("shared");
      const theirs = await other.mutex("shared");
      const solo = await holder.mutex("solo");
      expect(await shared.lock()).toBe("acquired");
      expect(await solo.lock()).toBe("acquired");
      fill();
      await untilNoRoomForAClose(fillers);

      await Bun.sleep(PAST_PROBE_MS);
      expect(await outcome(shared.close())).toBe("JournalFull");
      // Refused: the lock is still the holder's, and the other holder cannot take it.
      expect(shared.owner).toBe(holder.clientId);
      expect(theirs.tryLock()).toBeUndefined();

      // The last holder's close, refused so (its records are more: the slot's free too).
      await Bun.sleep(PAST_PROBE_MS);
      expect(await outcome(solo.close())).toBe("JournalFull");
      expect(solo.owner).toBe(holder.clientId);
    }),
  60_000,
);
