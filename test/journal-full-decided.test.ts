/**
 * A transfer decided (the receiver verified the stream and told the sender) while the arbiter was away
 * (killed, to be restarted): an end's ring and role are then given back by requests that wait for the
 * arbiter's return (run.ts releaseUnlessAway). An arbiter back with its --state journal full refuses
 * them, and that refusal was thrown in place of the verified transfer: `ivsh guest send` (or `recv`, its
 * file kept) failed, exit 1, "Failed to record a change in the state journal ...", after the copy.
 *
 * Undecided (an interrupt), the refusal of the release must not stand in for the failure either; nor, the
 * release given up while the arbiter was away (release-end.ts), go unhandled when it comes later.
 *
 * The end runs in this process, its link through a relay the test keeps closed until the journal is full
 * (a hook on its client says when its release has begun); the arbiter is a process of its own.
 */
import { expect } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Client } from "../src/guest/index.ts";
import { channelSlotName } from "../src/region/layout.ts";
import { ChannelReceiver, ChannelSender } from "../src/transfer/index.ts";
import { Source } from "../src/transfer/io.ts";
import { receiveStream, sendStream, type TransferResult } from "../src/transfer/run.ts";
import { Sink } from "../src/transfer/sink.ts";
import { droppingRelay, type SmallJournal, smallJournals, untilRefused } from "./helpers/full-journal.ts";
import { eventually } from "./helpers/processes.ts";
import { cannotMount } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";
import { guest } from "./helpers/transfer.ts";

const withSmallJournal = smallJournals("rlo9-journal-full-decided");

/** What the release of `role` on `channel` was refused, as its transfer's result says (it stands). */
function leftHeld(role: string, channel: string): RegExp {
  const refused =
    "Failed to record a change in the state journal .* since the state journal's file system is full";
  return new RegExp(
    `^this ${role}'s ring and hold on channel '${channel}' were not given back \\(${refused}.*\\): the arbiter frees them when this client's session ends`,
    "s",
  );
}

/** Sets `said.releasing` once `client`'s release of its channel slot begins. */
function watchRelease(client: { closeSlot(slot: number, keep?: boolean): Promise<void> }) {
  const said = { releasing: false };
  const closeSlot = client.closeSlot.bind(client);
  client.closeSlot = (...args) => {
    said.releasing = true;
    return closeSlot(...args);
  };
  return said;
}

type Relay = ReturnType<typeof droppingRelay>;

/**
 * Runs `body` in a small journal whose arbiter is reached through `link`, a relay the test keeps closed while
 * the arbiter is away; `helper` is on the arbiter's own socket. The arbiter's lease is far longer than the
 * test: an end's release does not give up on the arbiter meanwhile.
 */
function withRelayedArbiter(
  dir: string,
  body: (journal: SmallJournal, link: Relay, helper: Client) => Promise<void>,
): Promise<void> {
  return withSmallJournal(
    dir,
    async (journal) => {
      const link = droppingRelay(journal.own.socket);
      try {
        await body(journal, link, await journal.connect("helper"));
      } finally {
        link.stop();
      }
    },
    { lease: "60s" },
  );
}

/** The end `role`'s client, through `link` (reconnecting for longer than the test), its release watched. */
async function relayedEnd(journal: SmallJournal, link: Relay, role: string) {
  const client = await journal.connect(role, { tcp: `127.0.0.1:${link.port}`, reconnectTimeoutMs: 120_000 });
  return { client, watched: watchRelease(client) };
}

/** What a transfer came to: its bytes and what its release left held, or what it threw. */
function settled(transfer: Promise<TransferResult>) {
  return transfer.then(
    (result) => ({ bytes: result.bytes, leftHeld: result.leftHeld }),
    (error: { code?: string; message?: string }) => ({ code: error.code, message: error.message }),
  );
}

/** The arbiter goes away (killed, `link` kept closed), and `role`'s `client` sees its link go down. */
async function arbiterAway(journal: SmallJournal, link: Relay, client: Client, role: string) {
  link.control.blocked = true;
  await journal.arbiter.kill9();
  await eventually(async () => !client.arbiterLink.greeted, 20_000, `the ${role}'s link going down`);
}

/** The arbiter back, `peer` closed, its journal full (`helper` refused a change); then `link` lets ends in. */
async function backFull(
  journal: SmallJournal,
  link: Relay,
  helper: Client,
  peer: { close(): Promise<void> },
) {
  await journal.arbiter.restart();
  await peer.close();
  journal.fill();
  expect(await untilRefused(helper)).toBe("JournalFull");
  link.control.blocked = false;
}

/**
 * A send of 1000 bytes on `channel` decided while the arbiter was away, through `link`, the arbiter then
 * back with its journal full: what the send came to. `before` runs on the sender's client first.
 */
async function decidedSend(
  [journal, link, helper]: [SmallJournal, Relay, Client],
  channel: string,
  before: (client: Client) => Promise<unknown> = async () => {},
) {
  const { client, watched } = await relayedEnd(journal, link, "sender");
  await before(client);
  const input = join(journal.own.dir, `${channel}.in`);
  await Bun.write(input, new Uint8Array(1000).fill(7));
  const source = Source.open(input);
  const sent = settled(sendStream(client, channel, source, {}));
  const receiver = await ChannelReceiver.open(await journal.connect("receiver"), channel);
  expect(await receiver.receive(() => {})).toBe(1000);
  // The arbiter goes away before the verdict, which the receiver gives without it.
  await arbiterAway(journal, link, client, "sender");
  expect(await receiver.receive(() => {})).toBeUndefined();
  await eventually(async () => watched.releasing, 20_000, "the sender's release");
  // Back with a full journal: the sender's release is refused.
  await backFull(journal, link, helper, receiver);
  const told = await sent;
  source.close();
  return told;
}

testUnless(
  cannotMount,
  "a send decided while the arbiter was away succeeds when the arbiter, back with a full journal, refuses its release",
  () =>
    withRelayedArbiter("decided", async (...relayed) => {
      // Before: { code: "JournalFull", message: "Failed to record a change in the state journal ..." }.
      const told = await decidedSend(relayed, "jf-decided");
      // The transfer stands; what its release left held is said, and where it goes.
      expect(told).toEqual({
        bytes: 1000,
        leftHeld: expect.stringMatching(leftHeld("sender", "jf-decided")),
      });
    }),
  90_000,
);

testUnless(
  cannotMount,
  "a receive decided while the arbiter was away succeeds, its file kept, when the arbiter back with a full journal refuses its release",
  () =>
    withRelayedArbiter("received", async (journal, link, helper) => {
      const { client, watched } = await relayedEnd(journal, link, "receiver");
      const sender = await ChannelSender.open(await journal.connect("sender"), "jf-recv", {});
      await sender.write(new Uint8Array(1000).fill(9));
      sender.flush();
      const out = join(journal.own.dir, "received.out");
      let got = 0;
      const received = settled(
        receiveStream(client, "jf-recv", Sink.open(out), {
          update: (bytes) => (got = bytes),
        }),
      );
      await eventually(async () => got === 1000, 20_000, "the receiver taking the data");

      // The arbiter goes away before the end record, which the receiver then verifies without it.
      await arbiterAway(journal, link, client, "receiver");
      expect((await sender.finish()).bytes).toBe(1000);
      await eventually(async () => watched.releasing, 20_000, "the receiver's release");

      // Back with a full journal: the receiver's release is refused.
      await backFull(journal, link, helper, sender);
      // Before: { code: "JournalFull", message: "Failed to record a change in the state journal ..." }.
      expect(await received).toEqual({
        bytes: 1000,
        leftHeld: expect.stringMatching(leftHeld("receiver", "jf-recv")),
      });
      expect(readFileSync(out)).toEqual(Buffer.alloc(1000, 9));
    }),
  90_000,
);

testUnless(
  cannotMount,
  "`ivsh guest send` decided while the arbiter was away: exit 0, and a warning for the release the full journal refused",
  () =>
    withRelayedArbiter("cli", async (journal, link, helper) => {
      const { own, arbiter } = journal;
      const input = join(own.dir, "cli.in");
      await Bun.write(input, new Uint8Array(1000).fill(5));
      const tcp = `127.0.0.1:${link.port}`;
      const sender = guest(own, ["send", input, "--channel", "jf-cli", "--connect", tcp]);
      const receiver = await ChannelReceiver.open(await journal.connect("receiver"), "jf-cli");
      expect(await receiver.receive(() => {})).toBe(1000);

      // The arbiter goes away before the verdict, given without it once the sender has seen it go
      // (it tries to reconnect): seen later, the sender has the verdict while its link looks up.
      link.control.blocked = true;
      await arbiter.kill9();
      await eventually(async () => link.control.turnedAway > 0, 20_000, "the sender's try to reconnect");
      expect(await receiver.receive(() => {})).toBeUndefined();
      // The sender's role word goes first in its release, as its requests are queued.
      const released = async () => receiver.slot.holder("sender").owner === 0;
      await eventually(released, 20_000, "the sender's release");

      await backFull(journal, link, helper, receiver);
      // Before: exit 1, "Failed to record a change in the state journal ...".
      expect(await sender.exit()).toBe(0);
      const stderr = await sender.stderr;
      expect(stderr).toContain("sent 1000 B");
      expect(stderr).toMatch(new RegExp(leftHeld("sender", "jf-cli").source.replace("^", "WARN "), "s"));
    }),
  90_000,
);

testUnless(
  cannotMount,
  "a send decided while the arbiter was away, its ring's free refused but its hold given up, says only the ring was left",
  () =>
    withRelayedArbiter("ring-only", async (...relayed) => {
      // A second handle of this client on the channel's slot: the sender's close of its own sends no
      // request (the client counts its handles), so nothing of the hold's is refused; the ring's free is.
      const told = await decidedSend(relayed, "jf-ring", (client) =>
        client.openSlot(channelSlotName("jf-ring"), "channel", true),
      );
      // Before: "this sender's ring and hold on channel 'jf-ring' were not given back (...)".
      expect(told).toEqual({
        bytes: 1000,
        leftHeld: expect.stringMatching(
          /^this sender's ring on channel 'jf-ring' was not given back \(Failed to record a change in the state journal .* since the state journal's file system is full.*\): the arbiter frees it when this client's session ends/s,
        ),
      });
    }),
  90_000,
);

testUnless(
  cannotMount,
  "a send interrupted before any receiver came, its release refused by the full journal: the interrupt is what is told",
  () =>
    withSmallJournal("undecided", async (journal) => {
      const helper = await journal.connect("helper");
      const client = await journal.connect("sender");
      const input = join(journal.own.dir, "undecided.in");
      await Bun.write(input, new Uint8Array(1000).fill(7));
      const source = Source.open(input);
      const stop = new AbortController();
      const sent = settled(sendStream(client, "jf-undecided", source, { signal: stop.signal }));
      // Its ring published, the sender waits for a receiver; then the journal fills, and the user interrupts.
      await eventually(
        async () =>
          (await helper.status()).segments.some((segment) =>
            segment.name?.startsWith("channel:jf-undecided:"),
          ),
        20_000,
        "the sender's ring",
      );
      journal.fill();
      expect(await untilRefused(helper)).toBe("JournalFull");
      stop.abort();
      const told = await sent;
      source.close();
      // The refused close of the ring and hold (kept for the client's next send) must not stand in for it.
      expect("code" in told ? told.code : "sent").toBe("Interrupted");
    }),
  60_000,
);

testUnless(
  cannotMount,
  "a send interrupted while the arbiter was away gives its release up at once; refused later by the arbiter back with a full journal, the refusal is handled",
  () =>
    withRelayedArbiter("given-up", async (journal, link, helper) => {
      const { client } = await relayedEnd(journal, link, "sender");
      const input = join(journal.own.dir, "given-up.in");
      await Bun.write(input, new Uint8Array(1000).fill(3));
      const source = Source.open(input);
      const stop = new AbortController();
      const sent = settled(sendStream(client, "jf-given-up", source, { signal: stop.signal }));
      const ring = async () =>
        (await helper.status()).segments.some((segment) => segment.name?.startsWith("channel:jf-given-up:"));
      await eventually(ring, 20_000, "the sender's ring");
      await arbiterAway(journal, link, client, "sender");
      // Away and interrupted: the release is given up, its requests left to wait for the arbiter's return.
      stop.abort();
      const told = await sent;
      source.close();
      expect("code" in told ? told.code : "sent").toBe("Interrupted");
      await journal.arbiter.restart();
      journal.fill();
      expect(await untilRefused(helper)).toBe("JournalFull");
      link.control.blocked = false;
      // Back, the client sends the release's requests again and they are refused; a request of its own
      // answered after them (one connection, in order) says the refusals have come. Before: the refusal,
      // rejected with nothing to handle it, failed this test ("error: Failed to close the sender ...").
      await eventually(async () => client.arbiterLink.greeted, 20_000, "the sender back");
      await client.status();
      await Bun.sleep(200);
    }),
  60_000,
);
