/**
 * A session whose end (its connection dropped) the full state journal could not record has its locks
 * released as owner-died at once, and only the end's record waits: a hello resuming it is refused while
 * the arbiter runs (test/journal-refused-end.test.ts). That waiting end lived only in the arbiter's
 * memory, retried when the session's lease ran out. An arbiter stopped (or killed) before then, with room
 * back in the journal's file system, left the session live in the journal: after the restart its client
 * was let resume it and told its locks were kept, while another client held the lock it believed its own.
 */
import { expect } from "bun:test";
import type { Client } from "../src/guest/index.ts";
import { droppingRelay, lockedWhenFull, type SmallJournal, smallJournals } from "./helpers/full-journal.ts";
import { type ArbiterProcess, eventually } from "./helpers/processes.ts";
import { cannotMount } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

const withSmallJournal = smallJournals("journal-late-end-restart");

interface Restart {
  arbiter: ArbiterProcess;
  other: Client;
  holderId: number;
  /** Frees room in the journal's file system. */
  roomBack(): void;
}

/**
 * On a small tmpfs at `dir`: the holder's link drops while the journal is full; another client takes its
 * lock (owner-died); `restart` gives the journal room and restarts the arbiter; the holder, let through
 * again, must not be resumed.
 */
function lateEndAcrossRestart(dir: string, restart: (at: Restart) => Promise<void>): Promise<void> {
  // A lease far longer than the test: the session's end is not retried because its lease ran out.
  return withSmallJournal(dir, (journal) => lateEndWith(journal, restart), { lease: "60s" });
}

async function lateEndWith(journal: SmallJournal, restart: (at: Restart) => Promise<void>): Promise<void> {
  const { own, arbiter, roomBack } = journal;
  const link = droppingRelay(own.socket);
  try {
    const tcp = `127.0.0.1:${link.port}`;
    const { holder, other, theirs } = await lockedWhenFull(journal, "kept", {
      tcp,
      reconnectTimeoutMs: 120_000,
    });

    // The link drops and stays down: the arbiter ends the session (locks released), unrecorded.
    link.control.blocked = true;
    link.cut();
    let taken: string | undefined;
    await eventually(
      async () => {
        taken = theirs.tryLock();
        return taken !== undefined;
      },
      20_000,
      "the other client taking the dropped holder's lock",
    );
    expect(taken).toBe("owner-died");

    await restart({ arbiter, other, holderId: holder.clientId, roomBack });
    link.control.blocked = false;
    await eventually(
      async () => holder.reconnects > 0 || holder.lost !== undefined,
      30_000,
      "the holder's reconnection",
    );
    // Resumed, it would believe it holds 'kept', which the other client holds.
    expect({ reconnects: holder.reconnects, lost: holder.lost?.code }).toEqual({
      reconnects: 0,
      lost: "SessionUnknown",
    });
    expect(theirs.owner).toBe(other.clientId);
  } finally {
    link.stop();
  }
}

testUnless(
  cannotMount,
  "a stop with room back in the journal's file system records the ends it could not: the client is not resumed after the restart",
  () =>
    lateEndAcrossRestart("stop", async ({ arbiter, roomBack }) => {
      roomBack();
      await arbiter.stop();
      await arbiter.restart();
    }),
  90_000,
);

testUnless(
  cannotMount,
  "an end the full journal refused is recorded soon after room is back, not when the lease runs out: a kill -9 then does not bring the session back",
  () =>
    lateEndAcrossRestart("kill", async ({ arbiter, other, holderId, roomBack }) => {
      roomBack();
      // Well within the 60 s lease at whose end the arbiter retried the end before.
      await eventually(
        async () => (await other.status(10, holderId)).clients.length === 0,
        20_000,
        "the record of the holder's end",
      );
      await arbiter.kill9();
      await arbiter.restart();
    }),
  90_000,
);

for (const [how, stop] of [
  ["killed (kill -9)", (arbiter: ArbiterProcess) => arbiter.kill9()],
  ["stopped (SIGTERM)", (arbiter: ArbiterProcess) => arbiter.stop()],
] as const)
  testUnless(
    cannotMount,
    `an arbiter ${how} while the journal still refuses the end: the next start ends that session, its client is not resumed`,
    () =>
      lateEndAcrossRestart(how.split(" ")[0]!, async ({ arbiter, roomBack }) => {
        await stop(arbiter);
        roomBack(); // a start writes the journal anew: it needs room
        await arbiter.restart();
      }),
    90_000,
  );
