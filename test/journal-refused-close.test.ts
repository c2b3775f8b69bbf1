/**
 * A mutex handle's close() refused because the state journal cannot be written (its file system full):
 * the arbiter refuses the change, so nothing of it may happen. It released the lock as owner-died all the
 * same, before it found the journal could not take the close: the client was told its close failed while
 * another client took the lock it still held. And the handle whose close was refused was left closed on
 * the client's side: it could neither unlock nor close again, so the hold stayed until the session ended.
 * A segment's free() refused so was the same: marked freed and withdrawn, its grant kept by the arbiter.
 */
import { expect } from "bun:test";
import {
  lockedWhenFull,
  outcome,
  type SmallJournal,
  smallJournals,
  untilRefused,
} from "./helpers/full-journal.ts";
import { cannotMount } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

const withSmallJournal = smallJournals("journal-refused-close");

/** As lockedWhenFull; then the holder's close() of mutex `name` is refused (JournalFull). */
async function closeRefused(journal: SmallJournal, name: string) {
  const held = await lockedWhenFull(journal, name);
  expect(await outcome(held.mine.close())).toBe("JournalFull");
  return held;
}

testUnless(
  cannotMount,
  "a close() the full journal refused keeps the lock its client holds: nobody else takes it meanwhile",
  () =>
    withSmallJournal("small", async (journal) => {
      const { holder, theirs } = await closeRefused(journal, "kept");
      // The close was refused: the lock is still the holder's.
      expect(theirs.tryLock()).toBeUndefined();
      expect(theirs.owner).toBe(holder.clientId);
      journal.roomBack();
    }),
  60_000,
);

testUnless(
  cannotMount,
  "a handle whose close() the full journal refused stays usable: it unlocks, and a close retried with room gives the hold up",
  () =>
    withSmallJournal("small-retry", async (journal) => {
      const { other, mine, theirs } = await closeRefused(journal, "retried");
      journal.roomBack();
      mine.unlock();
      expect(theirs.tryLock()).toBe("acquired");
      theirs.unlock();
      await mine.close();
      const { sync } = await other.status();
      expect(sync.find((object) => object.name === "retried")?.holders).toEqual([other.clientId]);
    }),
  60_000,
);

testUnless(
  cannotMount,
  "a segment whose free() the full journal refused stays the client's: its bytes are there, and a free retried with room gives it back",
  () =>
    withSmallJournal("small-free", async ({ connect, fill, roomBack }) => {
      const holder = await connect("holder");
      const segment = await holder.alloc(4096, { name: "kept-segment" });
      segment.bytes[0] = 7;
      fill();
      expect(await untilRefused(holder)).toBe("JournalFull");
      expect(await outcome(segment.free())).toBe("JournalFull");
      expect(segment.isFreed).toBe(false);
      expect(segment.bytes[0]).toBe(7);
      roomBack();
      await segment.free();
      const { segments } = await holder.status();
      expect(segments.map((held) => held.name)).not.toContain("kept-segment");
    }),
  60_000,
);
