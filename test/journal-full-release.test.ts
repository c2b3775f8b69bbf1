/**
 * A channel end's release that the arbiter's full --state journal refuses: a close() (its ring's free and
 * its hold on the channel's slot), and the close of a slot answered after the open was aborted. The close
 * threw JournalFull and left both held; the abort's undo dropped its refusal. Either way the client held
 * them until it closed. Now they are kept, as refused-frees.ts keeps a ring whose free was refused, and
 * given back at the client's next send or receive once there is room.
 */
import { expect } from "bun:test";
import type { Client } from "../src/guest/index.ts";
import { ChannelReceiver, ChannelSender } from "../src/transfer/index.ts";
import { outcome, type SmallJournal, smallJournals, untilRefused } from "./helpers/full-journal.ts";
import { cannotMount } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

const withSmallJournal = smallJournals("lo12-journal-full-release");

const RING = { chunkBytes: 65536, depth: 2 };

/** What `helper` sees `client` hold: segment `id`, and the slot of channel `channel`. */
function heldBy(helper: Client, client: Client) {
  return {
    segment: async (id: number) =>
      ((await helper.status()).segments.find((segment) => segment.id === id)?.holders ?? []).some(
        (holder) => holder.clientId === client.clientId,
      ),
    channel: async (channel: string) =>
      (
        (await helper.status()).sync.find((sync) => sync.name === `channel:${channel}`)?.holders ?? []
      ).includes(client.clientId),
  };
}

/** The journal filled until it refuses `helper` a change. */
async function fillJournal(journal: SmallJournal, helper: Client): Promise<void> {
  journal.fill();
  expect(await untilRefused(helper)).toBe("JournalFull");
}

/** A receive on `channel` by `client` that gives up as it waits: what a full journal kept is retried first. */
async function nextReceive(client: Client, channel: string): Promise<string> {
  const stop = new AbortController();
  return await outcome(
    ChannelReceiver.open(client, channel, { signal: stop.signal, onWaiting: () => stop.abort() }),
  );
}

/** What `closing` threw: its code and message. */
async function thrown(closing: Promise<unknown>): Promise<{ code?: string; message?: string }> {
  return await closing.then(
    () => ({ code: "closed" }),
    (error: { code?: string; message?: string }) => ({ code: error.code, message: error.message }),
  );
}

testUnless(
  cannotMount,
  "a sender's close() refused by the full journal is told, and its ring and hold are given back at the client's next receive",
  () =>
    withSmallJournal("sender-close", async (journal) => {
      const helper = await journal.connect("helper");
      const client = await journal.connect("sender");
      const sender = await ChannelSender.open(client, "jf-close", RING);
      const held = heldBy(helper, client);
      await fillJournal(journal, helper);
      const told = await thrown(sender.close());
      expect(told.code).toBe("JournalFull");
      expect([await held.segment(sender.ring.segment.id), await held.channel("jf-close")]).toEqual([
        true,
        true,
      ]);
      journal.roomBack();
      expect(await nextReceive(client, "jf-close-next")).toBe("Interrupted");
      // Before: both still held, until the client closed.
      expect([await held.segment(sender.ring.segment.id), await held.channel("jf-close")]).toEqual([
        false,
        false,
      ]);
      // What close() told: the refusal, and what this client holds until when.
      expect(told.message).toStartWith(
        "Failed to close the sender of channel 'jf-close' since the arbiter could not record it: the state journal's file system is full",
      );
      expect(told.message).toContain(`refused to take back segment ${sender.ring.segment.id}`);
      expect(told.message).toContain("refused to let go of this client's hold on channel 'jf-close'");
      expect(told.message).toContain(
        "this client holds it until its next send or receive gives it back, or it closes",
      );
    }),
  60_000,
);

testUnless(
  cannotMount,
  "a receiver's close() refused by the full journal is told, and its ring and hold are given back at the client's next send",
  () =>
    withSmallJournal("receiver-close", async (journal) => {
      const helper = await journal.connect("helper");
      const sender = await ChannelSender.open(await journal.connect("sender"), "jf-rclose", RING);
      const client = await journal.connect("receiver");
      const receiver = await ChannelReceiver.open(client, "jf-rclose");
      const held = heldBy(helper, client);
      await fillJournal(journal, helper);
      const told = await thrown(receiver.close());
      expect(told.code).toBe("JournalFull");
      expect([await held.segment(sender.ring.segment.id), await held.channel("jf-rclose")]).toEqual([
        true,
        true,
      ]);
      journal.roomBack();
      await (await ChannelSender.open(client, "jf-rclose-next", RING)).close();
      // Before: both still held, until the client closed.
      expect([await held.segment(sender.ring.segment.id), await held.channel("jf-rclose")]).toEqual([
        false,
        false,
      ]);
      expect(told.message).toStartWith("Failed to close the receiver of channel 'jf-rclose' since");
    }),
  60_000,
);

testUnless(
  cannotMount,
  "a channel's slot opened after the receive was aborted, its close refused by the full journal, is given back at the next",
  () =>
    withSmallJournal("late-slot", async (journal) => {
      const helper = await journal.connect("helper");
      const client = await journal.connect("receiver");
      const stop = new AbortController();
      // The slot's open is answered after the abort (the arbiter was away), then the journal fills.
      const real = client.openSlot.bind(client);
      let late: Promise<unknown> | undefined;
      client.openSlot = (...args: Parameters<Client["openSlot"]>) => {
        const answer = real(...args).then(async (opened) => {
          stop.abort();
          await fillJournal(journal, helper);
          return opened;
        });
        late = answer;
        return answer;
      };
      expect(await outcome(ChannelReceiver.open(client, "jf-slot", { signal: stop.signal }))).toBe(
        "Interrupted",
      );
      await late;
      await client.status(); // answered after the late slot's close, on the same connection
      client.openSlot = real;
      const held = heldBy(helper, client);
      expect(await held.channel("jf-slot")).toBe(true);
      journal.roomBack();
      expect(await nextReceive(client, "jf-slot-next")).toBe("Interrupted");
      // Before: the refusal was dropped, and the slot stayed held until the client closed.
      expect(await held.channel("jf-slot")).toBe(false);
    }),
  60_000,
);

for (const refusedAgain of [false, true])
  testUnless(
    cannotMount,
    `a sender's close() refused${refusedAgain ? ", refused again at a receive," : ""} then a send on that channel by the same client: the retry gives back only the old hold, the new sender keeps its own`,
    () =>
      withSmallJournal(refusedAgain ? "send-again-refused" : "send-again", async (journal) => {
        const helper = await journal.connect("helper");
        const client = await journal.connect("sender");
        const held = heldBy(helper, client);
        const first = await ChannelSender.open(client, "jf-again", RING);
        await fillJournal(journal, helper);
        expect((await thrown(first.close())).code).toBe("JournalFull");
        // The retry at a receive on another channel, the journal still full: refused, kept again.
        if (refusedAgain) await nextReceive(client, "jf-again-other");
        journal.roomBack();
        const second = await ChannelSender.open(client, "jf-again", RING);
        // One hold per client: the kept close of the first sender's handle must not release the second's.
        // Before (the close kept without counting its handle again): it did, and the second sender's ring
        // was refused ("names beginning 'channel:' are the rings of ... channels").
        expect(await held.channel("jf-again")).toBe(true);
        await second.close();
        expect(await held.channel("jf-again")).toBe(false);
      }),
    60_000,
  );
