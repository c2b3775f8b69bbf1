/**
 * A session whose end (its connection dropped) the state journal could not record is kept by the arbiter
 * until its lease runs out, but its locks were released as owner-died all the same: the client is gone as
 * far as the region goes, so another holder may take them at once. Its client, alive behind a link that
 * only dropped, reconnected and was let resume that session (told its locks and grants are kept) while
 * another client held the lock it believed still its own.
 */
import { expect } from "bun:test";
import { droppingRelay, lockedWhenFull, smallJournals } from "./helpers/full-journal.ts";
import { cannotMount } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

const withSmallJournal = smallJournals("journal-refused-end");

testUnless(
  cannotMount,
  "a session whose end the full journal refused is not resumed with its locks released: the reconnecting client is told its session is gone",
  () =>
    withSmallJournal(
      "small",
      async (journal) => {
        const link = droppingRelay(journal.own.socket);
        try {
          const tcp = `127.0.0.1:${link.port}`;
          const { holder, mine, theirs } = await lockedWhenFull(journal, "kept", { tcp });

          link.cut();
          // The holder reconnects at once; within its lease, the arbiter still has the session.
          const deadline = performance.now() + 10_000;
          while (holder.reconnects === 0 && performance.now() < deadline && !holder.lost) await Bun.sleep(20);
          const taken = theirs.tryLock();
          // Either the session came back with its lock (nobody else may take it), or it is gone (and the lock
          // was released): never resumed with its lock handed to another client.
          if (holder.reconnects > 0) {
            expect(taken).toBeUndefined();
            expect(mine.owner).toBe(holder.clientId);
          } else {
            expect(String(holder.lost?.code)).toBe("SessionUnknown");
            expect(taken).toBe("owner-died");
          }
        } finally {
          link.stop();
        }
      },
      { lease: "30s" },
    ),
  60_000,
);
