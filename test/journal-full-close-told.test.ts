/**
 * A channel end's close() whose ring's free fails otherwise than by the arbiter's full journal, while that
 * journal refuses the close of its hold on the channel's slot: the refusal is kept, to give the hold back
 * at the client's next send or receive, but close() threw the free's failure alone, so its caller was not
 * told that this client still holds the channel (the two requests' answers were thrown by Promise.all, the
 * first failure only). The arbiter is a process of its own, its journal on a small tmpfs the test fills.
 */
import { expect } from "bun:test";
import { failure } from "../src/errors.ts";
import type { Client } from "../src/guest/index.ts";
import { ChannelReceiver, ChannelSender } from "../src/transfer/index.ts";
import { outcome, smallJournals, untilRefused } from "./helpers/full-journal.ts";
import { cannotMount } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

const withSmallJournal = smallJournals("lo14-journal-full-close-told");

/** Whether `client` holds the slot of channel `channel`, as `helper` sees it. */
async function holdsChannel(helper: Client, client: Client, channel: string): Promise<boolean> {
  const sync = (await helper.status()).sync.find((slot) => slot.name === `channel:${channel}`);
  return (sync?.holders ?? []).includes(client.clientId);
}

testUnless(
  cannotMount,
  "a close() whose ring's free fails otherwise says the hold the full journal kept, and gives it back at the next receive",
  () =>
    withSmallJournal("free-fails", async (journal) => {
      const helper = await journal.connect("helper");
      const client = await journal.connect("sender");
      const sender = await ChannelSender.open(client, "jf-told", { chunkBytes: 65536, depth: 2 });
      const { segment } = sender.ring;
      // The free fails as no full journal makes it (a request that timed out, say); the close goes on.
      segment.freeLettingGo = () =>
        Promise.reject(failure("Timeout", `free segment ${segment.id}`, "the test says so"));
      journal.fill();
      expect(await untilRefused(helper)).toBe("JournalFull");
      const told = await sender.close().then(
        () => ({ code: "closed", message: "" }),
        (error: { code: string; message: string }) => error,
      );
      expect(told.code).toBe("Timeout");
      expect(told.message).toStartWith(`Failed to free segment ${segment.id} since the test says so`);
      // Before: the free's failure alone; the hold the refusal kept went unsaid.
      expect(told.message).toContain("refused to let go of this client's hold on channel 'jf-told'");
      expect(told.message).toContain("this client holds it until its next send or receive gives it back");
      expect(await holdsChannel(helper, client, "jf-told")).toBe(true);
      journal.roomBack();
      const stop = new AbortController();
      const next = ChannelReceiver.open(client, "jf-told-next", {
        signal: stop.signal,
        onWaiting: () => stop.abort(),
      });
      expect(await outcome(next)).toBe("Interrupted");
      expect(await holdsChannel(helper, client, "jf-told")).toBe(false);
    }),
  60_000,
);
