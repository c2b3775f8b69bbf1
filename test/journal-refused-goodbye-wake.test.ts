/**
 * A lock() woken once its client's close() has begun is refused (it may not take a lock its goodbye would
 * leave naming an ended session), and so spends the wake-up meant for the next waiter parked in the
 * arbiter: what wakes that waiter at once is the arbiter reading the goodbye, which wakes every waiter on
 * the slots the client held. Where the journal could not record the session's end (its file system full),
 * nothing did: the waiter slept until the arbiter's sweep saw the word changed ("value changed").
 */
import { expect } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { WaitOutcome } from "../src/protocol/messages.ts";
import { smallJournals, untilRefused } from "./helpers/full-journal.ts";
import { clientConfig, eventually, spawnFixture } from "./helpers/processes.ts";
import { rawClient } from "./helpers/raw.ts";
import { rawMutexWaiter } from "./helpers/raw-waiter.ts";
import { cannotMount } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

const withSmallJournal = smallJournals("journal-refused-goodbye-wake");

testUnless(
  cannotMount,
  "a goodbye the full journal could not record still wakes the waiters on its client's slots",
  () =>
    withSmallJournal("small", async (journal) => {
      const name = "refused-goodbye";
      const holder = await journal.connect("holder", { socket: journal.own.socket, futexParking: false });
      const other = await journal.connect("other");
      const waiter = await rawClient(journal.own.socket);
      try {
        const mutex = await holder.mutex(name);
        const c = await rawMutexWaiter(holder, waiter, name);
        let outcome: number | undefined;
        // At most 3 tries: the sweep may also end C's WAIT between the unlock and a prompt wake-up.
        for (let tries = 0; tries < 3 && outcome !== WaitOutcome.woken; tries++) {
          await mutex.lock();
          const marker = `${journal.own.dir}/${name}-${tries}.go`;
          const config = clientConfig(journal.own, { mutex: name, how: "close", marker });
          const quitter = spawnFixture("woken-quitter", config);
          await quitter.events.next("parked");
          await eventually(async () => (await c.waitersOnSlot()) === 1, 20_000, "B's WAIT parked");
          const waited = c.park();
          await eventually(async () => (await c.waitersOnSlot()) === 2, 20_000, "C's WAIT parked");
          journal.fill();
          expect(await untilRefused(other, (index) => `filler-${tries}-${index}-${"x".repeat(200)}`)).toBe(
            "JournalFull",
          );
          quitter.proc.stdin.write("hold\n");
          quitter.proc.stdin.flush();
          await quitter.events.next("holding");
          mutex.unlock();
          await holder.status(); // the WAKE served: B woken
          writeFileSync(marker, ""); // B says goodbye (its end refused by the journal), then is refused
          expect(await quitter.events.next("ended")).toMatchObject({ ok: false, code: "ConnectionLost" });
          outcome = await c.outcome(waited);
          quitter.proc.stdin.end();
          await quitter.exit();
          rmSync(marker, { force: true });
          journal.roomBack();
        }
        expect(outcome).toBe(WaitOutcome.woken);
      } finally {
        waiter.socket.end();
      }
    }),
  120_000,
);
