/**
 * A channel's open refused because the arbiter's --state journal's file system is full (its slot's open is
 * a change the journal must record): told as the open of that channel, with the journal's words. The
 * arbiter's own message names only the journal ("Failed to record a change in the state journal ..."):
 * claimRole said the channel for such a refusal while it came as NoSpace, and no longer once it came as
 * JournalFull, so `ivsh guest send` / `recv` did not say which channel, nor that it was its open.
 */
import { expect } from "bun:test";
import { ChannelReceiver, ChannelSender } from "../src/transfer/index.ts";
import { smallJournals, untilRefused } from "./helpers/full-journal.ts";
import { cannotMount } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

const withSmallJournal = smallJournals("rlo7-journal-full-open");

/** What opening the channel threw: its code and message. */
async function refusal(opening: Promise<unknown>): Promise<{ code?: string; message?: string }> {
  return await opening.then(
    () => ({ code: "opened" }),
    (error: { code?: string; message?: string }) => ({ code: error.code, message: error.message }),
  );
}

testUnless(
  cannotMount,
  "a channel's open refused by a full state journal names the channel and the journal, as JournalFull",
  () =>
    withSmallJournal("small", async (journal) => {
      const client = await journal.connect("opener");
      journal.fill();
      expect(await untilRefused(client)).toBe("JournalFull");
      const sent = await refusal(ChannelSender.open(client, "jf-open", { chunkBytes: 65536, depth: 2 }));
      expect(sent.code).toBe("JournalFull");
      // Before: "Failed to record a change in the state journal .../arbiter.state since ...".
      expect(sent.message).toStartWith(
        "Failed to send on channel 'jf-open' since the state journal's file system is full",
      );
      const received = await refusal(ChannelReceiver.open(client, "jf-open"));
      expect(received.code).toBe("JournalFull");
      expect(received.message).toStartWith(
        "Failed to receive on channel 'jf-open' since the state journal's file system is full",
      );
    }),
  60_000,
);
