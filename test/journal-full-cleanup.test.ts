/**
 * A failure whose cleanup the arbiter's full --state journal refuses too: the failure is what is told, not
 * the cleanup's refusal. A busy channel, an overwritten ring, a sender gone before the join and an
 * interrupted send each gave back a slot or a segment before throwing, and a journal that refused that
 * close or free had its own "Failed to record a change in the state journal ... since the state journal's
 * file system is full" thrown in their place.
 *
 * The journal is filled just after the step that takes what is given back (a hook on the client's own
 * request, in this process), so that only the cleanup meets the full journal.
 */
import { expect } from "bun:test";
import { constants } from "node:os";
import { SystemCallError } from "../src/ffi/index.ts";
import type { Client, ConnectOptions, Segment } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { ChannelReceiver, ChannelSender } from "../src/transfer/index.ts";
import { Ring } from "../src/transfer/ring.ts";
import { outcome, type SmallJournal, smallJournals, untilRefused } from "./helpers/full-journal.ts";
import { eventually } from "./helpers/processes.ts";
import { cannotMount } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";
import { guest } from "./helpers/transfer.ts";

const withSmallJournal = smallJournals("lo9-journal-full-cleanup");

/** What `opening` threw: its code and message. */
async function refusal(opening: Promise<unknown>): Promise<{ code?: string; message?: string }> {
  return await opening.then(
    () => ({ code: "opened" }),
    (error: { code?: string; message?: string }) => ({ code: error.code, message: error.message }),
  );
}

/** Fills the journal (until `helper` is refused a change) once `client`'s next `method` request is answered. */
function fillAfter(
  journal: SmallJournal,
  helper: Client,
  client: Client,
  method: "openSlot" | "openLettingGo",
) {
  const real = client[method].bind(client) as (...args: unknown[]) => Promise<unknown>;
  (client as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
    const answer = await real(...args);
    journal.fill();
    expect(await untilRefused(helper)).toBe("JournalFull");
    return answer;
  };
}

/** The client ids holding segment `id`, as `helper`'s status says (none: no such segment). */
async function holdersOf(helper: Client, id: number): Promise<number[] | undefined> {
  return (await helper.status()).segments
    .find((segment) => segment.id === id)
    ?.holders.map((holder) => holder.clientId);
}

/**
 * `receiver`'s open of `channel` once more, aborted as soon as it waits for a sender: it gives back first
 * what an earlier refused free left it holding.
 */
function openAbortedAtWaiting(receiver: Client, channel: string): Promise<ChannelReceiver> {
  const stop = new AbortController();
  return ChannelReceiver.open(receiver, channel, { signal: stop.signal, onWaiting: () => stop.abort() });
}

/**
 * Has `client`'s next `method` request answered only after `stop` is aborted (as if the arbiter was away
 * meanwhile), then fills the journal (until `helper` is refused a change). `late()`: that answer, once
 * asked for; `restore()` puts the real method back.
 */
function answeredAfterAbort(
  journal: SmallJournal,
  helper: Client,
  client: Client,
  method: "openLettingGo" | "allocLettingGo",
  stop: AbortController,
) {
  const hooked = client as unknown as Record<typeof method, (...args: unknown[]) => Promise<Segment>>;
  const real = hooked[method].bind(client);
  let late: Promise<Segment> | undefined;
  hooked[method] = (...args) => {
    late = real(...args).then(async (ring) => {
      stop.abort();
      journal.fill();
      expect(await untilRefused(helper)).toBe("JournalFull");
      return ring;
    });
    return late;
  };
  return {
    late: () => late,
    restore: () => {
      hooked[method] = real;
    },
  };
}

const RING = { chunkBytes: 65536, depth: 2 };

testUnless(
  cannotMount,
  "a busy channel is told as such when the full journal refuses the slot's close",
  () =>
    withSmallJournal("busy", async (journal) => {
      const helper = await journal.connect("helper");
      const holder = await journal.connect("holder");
      await ChannelSender.open(holder, "jf-busy", RING);
      const other = await journal.connect("other");
      fillAfter(journal, helper, other, "openSlot");
      const busy = await refusal(ChannelSender.open(other, "jf-busy", RING));
      // Before: JournalFull, "Failed to record a change in the state journal ...".
      expect(busy).toEqual({
        code: "ChannelBusy",
        message: expect.stringContaining("the channel is busy: client"),
      });
    }),
  60_000,
);

testUnless(
  cannotMount,
  "a ring found overwritten is told as RegionCorrupted when the full journal refuses its segment's free",
  () =>
    withSmallJournal("ring", async (journal) => {
      const helper = await journal.connect("helper");
      const sender = await ChannelSender.open(await journal.connect("sender"), "jf-ring", RING);
      sender.slot.store("depth", 0); // an overwrite of the slot: no ring has no chunks
      const receiver = await journal.connect("receiver");
      fillAfter(journal, helper, receiver, "openLettingGo");
      const told = await refusal(ChannelReceiver.open(receiver, "jf-ring"));
      expect(told).toEqual({
        code: "RegionCorrupted",
        message: expect.stringContaining("the region was overwritten"),
      });
      expect(told.message).toContain("this client holds it until its next send or receive"); // the ring, its free refused
    }),
  60_000,
);

testUnless(
  cannotMount,
  "a sender gone before we joined is told as PeerGone when the full journal refuses its ring's free",
  () =>
    withSmallJournal("gone", async (journal) => {
      const helper = await journal.connect("helper");
      const sender = await ChannelSender.open(await journal.connect("sender"), "jf-gone", RING);
      const receiver = await journal.connect("receiver");
      // The receiver holds the ring now (its grant keeps it): the sender leaves, then the journal fills.
      const real = receiver.openLettingGo.bind(receiver);
      receiver.openLettingGo = async (...args: Parameters<Client["openLettingGo"]>) => {
        const ring = await real(...args);
        await sender.close();
        return ring;
      };
      fillAfter(journal, helper, receiver, "openLettingGo");
      const told = await refusal(ChannelReceiver.open(receiver, "jf-gone"));
      // Before (ignoreLost on that free): JournalFull, "Failed to record a change in the state journal ...".
      expect(told).toEqual({
        code: "PeerGone",
        message: expect.stringContaining("the sender went away before we joined"),
      });
      expect(told.message).toContain("this client holds it until its next send or receive"); // the ring, its free refused
    }),
  60_000,
);

/**
 * A receiver ("receiver", connected with `options`) whose open of `channel` found a segment not the ring's
 * (as if the ring was freed and another client took its name: not the one announced), whose free the full
 * journal refused: `told`, what that open threw; `holders()`, that segment's holders' client ids.
 */
async function otherFound(journal: SmallJournal, channel: string, options?: ConnectOptions) {
  const helper = await journal.connect("helper");
  const sender = await ChannelSender.open(await journal.connect("sender"), channel, RING);
  sender.slot.store("ringSegment", sender.ring.segment.id + 1000);
  const receiver = await journal.connect("receiver", options && { socket: journal.own.socket, ...options });
  fillAfter(journal, helper, receiver, "openLettingGo");
  const told = await refusal(ChannelReceiver.open(receiver, channel));
  return { sender, receiver, told, holders: () => holdersOf(helper, sender.ring.segment.id) };
}

/** `otherFound`, told as PeerGone, the receiver holding that segment. */
async function refusedOther(journal: SmallJournal, channel: string, options?: ConnectOptions) {
  const { receiver, told, holders } = await otherFound(journal, channel, options);
  expect(told).toEqual({
    code: "PeerGone",
    message: expect.stringContaining("this client holds it until its next send or receive gives it back"),
  });
  expect(await holders()).toContain(receiver.clientId);
  return { receiver, holders };
}

testUnless(
  cannotMount,
  "a segment not the ring's, found under its name, that the full journal keeps held is told in the PeerGone",
  () =>
    withSmallJournal("other", async (journal) => {
      const { sender, receiver, told, holders } = await otherFound(journal, "jf-other");
      // Before: PeerGone alone, and the client kept that other segment untold for as long as it lived.
      expect(told).toEqual({
        code: "PeerGone",
        message: expect.stringContaining(
          `the sender went away before we joined; the arbiter's state journal, its file system full, refused to take back segment ${sender.ring.segment.id}`,
        ),
      });
      expect(told.message).toContain("this client holds it until its next send or receive gives it back");
      expect(await holders()).toContain(receiver.clientId);
      // Room again: the receiver's next open gives the segment back first (its wait then ends at once).
      journal.roomBack();
      expect(await refusal(openAbortedAtWaiting(receiver, "jf-other"))).toEqual({
        code: "Interrupted",
        message: expect.any(String),
      });
      // Before: still held, until the client closed.
      expect(await holders()).not.toContain(receiver.clientId);
    }),
  60_000,
);

testUnless(
  cannotMount,
  "a receive aborted while its retried free waits for an arbiter away is interrupted at once",
  () =>
    withSmallJournal("away", async (journal) => {
      // Reconnecting for longer than the test lasts: a wait for the arbiter is seen as one.
      const { receiver } = await refusedOther(journal, "jf-away", { reconnectTimeoutMs: 600_000 });
      const arbiter = journal.arbiter.spawned.proc;
      arbiter.kill("SIGSTOP");
      try {
        const stop = new AbortController();
        const again = outcome(ChannelReceiver.open(receiver, "jf-away", { signal: stop.signal }));
        stop.abort();
        // A liveness bound, far above an abort's few milliseconds: before, it waited for the arbiter.
        const late = Bun.sleep(20_000).then(() => "still waiting for the stopped arbiter");
        expect(await Promise.race([again, late])).toBe("Interrupted");
      } finally {
        arbiter.kill("SIGCONT");
      }
    }),
  60_000,
);

testUnless(
  cannotMount,
  "two receives at once, the journal full still, keep the segment to give back at the next",
  () =>
    withSmallJournal("twice", async (journal) => {
      const { receiver, holders } = await refusedOther(journal, "jf-twice");
      // Both retry the free; the journal refuses it (and their slots: any outcome will do).
      await Promise.all([
        outcome(ChannelReceiver.open(receiver, "jf-twice-a")),
        outcome(ChannelReceiver.open(receiver, "jf-twice-b")),
      ]);
      expect(await holders()).toContain(receiver.clientId);
      journal.roomBack();
      expect(await outcome(openAbortedAtWaiting(receiver, "jf-twice"))).toBe("Interrupted");
      // Before: the second found the first's free in flight and dropped the segment, which stayed held.
      expect(await holders()).not.toContain(receiver.clientId);
    }),
  60_000,
);

testUnless(
  cannotMount,
  "a ring opened after the receive was aborted, its free refused by the full journal, is given back at the next",
  () =>
    withSmallJournal("late", async (journal) => {
      const helper = await journal.connect("helper");
      const sender = await ChannelSender.open(await journal.connect("sender"), "jf-late", RING);
      const receiver = await journal.connect("receiver");
      const stop = new AbortController();
      // The open of the ring is answered after the abort (the arbiter was away), then the journal fills.
      const opened = answeredAfterAbort(journal, helper, receiver, "openLettingGo", stop);
      expect(await outcome(ChannelReceiver.open(receiver, "jf-late", { signal: stop.signal }))).toBe(
        "Interrupted",
      );
      await opened.late();
      await receiver.status(); // answered after the late ring's free, on the same connection
      opened.restore();
      const holders = () => holdersOf(helper, sender.ring.segment.id);
      expect(await holders()).toContain(receiver.clientId);
      journal.roomBack();
      expect(await outcome(openAbortedAtWaiting(receiver, "jf-late"))).toBe("Interrupted");
      // Before: the refusal was dropped, and the ring stayed held until the client closed.
      expect(await holders()).not.toContain(receiver.clientId);
    }),
  60_000,
);

testUnless(
  cannotMount,
  "a sender's ring allocated after its open was aborted, its free refused by the full journal, is given back at the next",
  () =>
    withSmallJournal("late-send", async (journal) => {
      const helper = await journal.connect("helper");
      const client = await journal.connect("sender");
      const stop = new AbortController();
      // The ring's alloc is answered after the abort (the arbiter was away), then the journal fills.
      const allocated = answeredAfterAbort(journal, helper, client, "allocLettingGo", stop);
      expect(
        await outcome(ChannelSender.open(client, "jf-late-send", { ...RING, signal: stop.signal })),
      ).toBe("Interrupted");
      const { id } = (await allocated.late()) as Segment;
      await client.status(); // answered after the late ring's free, on the same connection
      allocated.restore();
      const holders = async () => (await holdersOf(helper, id)) ?? [];
      expect(await holders()).toContain(client.clientId);
      journal.roomBack();
      await (await ChannelSender.open(client, "jf-late-send", RING)).close();
      // Before: the refusal was dropped, and the ring stayed held until the client closed.
      expect(await holders()).not.toContain(client.clientId);
    }),
  60_000,
);

testUnless(
  cannotMount,
  "`ivsh guest send` interrupted while the full journal refuses its ring's free: exit 130, interrupted",
  () =>
    withSmallJournal("interrupted", async ({ own, connect, fill }) => {
      const helper = await connect("helper");
      const sender = guest(own, ["send", "-", "--channel", "jf-int", "--chunk-size", "64KiB"]);
      sender.proc.stdin.write(new Uint8Array(64 << 10).fill(1));
      await sender.proc.stdin.flush();
      const held = async () =>
        (await fetchStatus({ unix: own.socket })).report.segments.some((segment) =>
          segment.name?.startsWith("channel:jf-int:"),
        );
      await eventually(held, 20_000, "the sender's ring");
      fill();
      expect(await untilRefused(helper)).toBe("JournalFull");
      sender.proc.kill("SIGINT");
      // Before: exit 1, "Failed to record a change in the state journal ...".
      expect(await sender.exit()).toBe(130);
      expect(await sender.stderr).toContain("since it was interrupted by SIGINT");
      await sender.proc.stdin.end();
    }),
  60_000,
);

testUnless(
  cannotMount,
  "a ring faulting as it is populated, its free refused by the full journal: the fault is told, and the ring kept, in one message",
  () =>
    withSmallJournal("populate", async (journal) => {
      const helper = await journal.connect("helper");
      const sender = await ChannelSender.open(await journal.connect("sender"), "jf-populate", RING);
      const receiver = await journal.connect("receiver");
      fillAfter(journal, helper, receiver, "openLettingGo");
      // The region's pages gone under the ring (a truncated region file), as the receiver first touches it.
      const populate = Ring.prototype.populate;
      Ring.prototype.populate = () => {
        throw new SystemCallError("madvise", "ring (test)", constants.errno.EFAULT);
      };
      const told = await refusal(ChannelReceiver.open(receiver, "jf-populate")).finally(() => {
        Ring.prototype.populate = populate;
      });
      expect(told.code).toBe("RegionInvalid");
      expect(told.message).toMatch(
        /^Failed to receive on channel 'jf-populate' since the shared region's pages behind the ring are gone \(EFAULT\).*; the arbiter's state journal, its file system full, refused to take back segment \d+ \('channel:jf-populate:\d+'\) that we opened: this client holds it until its next send or receive gives it back, or it closes$/,
      );
      await sender.close().catch(() => {});
    }),
  60_000,
);
