/**
 * A session whose end the full journal could not record, the journal given room again: an arbiter stopped
 * then (SIGTERM) records that end as it stops (src/commands/host.ts, lateEnds.stopping), so the journal it
 * leaves holds no session that ended. Not recorded, the next start restored it until the region's list of
 * unrecorded ends, if it had room, ended it again.
 */
import { expect } from "bun:test";
import { readFileSync } from "node:fs";
import { SyncCreate } from "../src/protocol/messages.ts";
import { SlotKind } from "../src/region/layout.ts";
import { type SmallJournal, smallJournals } from "./helpers/full-journal.ts";
import { eventually } from "./helpers/processes.ts";
import { type RawClient, rawClient } from "./helpers/raw.ts";
import { cannotMount } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

const withSmallJournal = smallJournals("journal-late-end-at-stop");

/**
 * Sessions holding 4 locks each, then the journal filled, then each session ended by `end` until the journal
 * refuses an end; the journal given room again, the arbiter is stopped (SIGTERM). Its journal must not
 * hold that session any more.
 */
async function lateEndRecordedAtStop(journal: SmallJournal, end: (raw: RawClient) => void): Promise<void> {
  const watcher = await journal.connect("watcher");
  // Sessions whose ends write a few hundred bytes each (4 locks released): the full journal's last
  // page takes a few of them, then refuses one.
  const sessions: { raw: RawClient; clientId: number }[] = [];
  for (let index = 0; index < 14; index++) {
    const raw = await rawClient(journal.own.socket);
    const { clientId } = await raw.hello(`quitter-${index}`);
    for (let lock = 0; lock < 4; lock++) {
      const name = `late-end-${index}-${lock}`;
      raw.send("syncOpen", 2 + lock, { name, kind: SlotKind.mutex, create: SyncCreate.openOrCreate });
      await raw.answer(2 + lock);
    }
    sessions.push({ raw, clientId });
  }
  journal.fill();
  let late: number | undefined;
  for (const { raw, clientId } of sessions) {
    const before = (await watcher.status(0)).totals;
    end(raw);
    await eventually(
      async () => (await watcher.status(0)).totals.connected < before.connected,
      20_000,
      `client ${clientId}'s connection closing`,
    );
    // Its session stays listed (without a connection) when its end could not be recorded.
    if ((await watcher.status(0)).totals.clients === before.clients) {
      late = clientId;
      break;
    }
  }
  if (late === undefined) throw new Error("the full journal recorded every end");
  journal.roomBack();
  await journal.arbiter.stop();
  // Its last record there is its end (or none, the journal compacted without it): never its session.
  const records = readFileSync(journal.own.state, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { t: string; clientId?: number });
  const its = records.filter((record) => record.clientId === late && record.t.startsWith("session"));
  expect(its.at(-1)?.t ?? "compacted away").not.toBe("session");
}

testUnless(
  cannotMount,
  "an end the full journal refused (its connection closed) is recorded by the stop once the journal has room",
  () => withSmallJournal("closed", (journal) => lateEndRecordedAtStop(journal, (raw) => raw.socket.end())),
  120_000,
);

// A goodbye's end is a transaction of its own (src/host/dispatch.ts run): nested in the request's, its
// failed write undid the end instead of keeping it to record later, and the stop had nothing to record.
testUnless(
  cannotMount,
  "an end the full journal refused (a goodbye) is recorded by the stop once the journal has room",
  () =>
    withSmallJournal("goodbye", (journal) =>
      lateEndRecordedAtStop(journal, (raw) => raw.send("bye", 99, {})),
    ),
  120_000,
);
