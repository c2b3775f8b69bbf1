/**
 * A transfer decided (the receiver verified the stream and told the sender) while the arbiter was away
 * (killed, to be restarted): an end's ring and role are then given back by requests that wait for the
 * arbiter's return (run.ts releaseUnlessAway). An arbiter back with its --state journal full refuses
 * them, and that refusal was thrown in place of the verified transfer: `ivsh guest send` (or `recv`, its
 * file kept) failed, exit 1, "Failed to record a change in the state journal ...", after the copy.
 *
 * The end runs in this process, its link through a relay the test keeps closed until the journal is full
 * (a hook on its client says when its release has begun); the arbiter is a process of its own.
 */
import { expect } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ChannelReceiver, ChannelSender } from "../src/transfer/index.ts";
import { Source } from "../src/transfer/io.ts";
import { receiveStream, sendStream } from "../src/transfer/run.ts";
import { Sink } from "../src/transfer/sink.ts";
import { droppingRelay, smallJournals, untilRefused } from "./helpers/full-journal.ts";
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

testUnless(
  cannotMount,
  "a send decided while the arbiter was away succeeds when the arbiter, back with a full journal, refuses its release",
  () =>
    withSmallJournal(
      "decided",
      async (journal) => {
        const { own, arbiter } = journal;
        const link = droppingRelay(own.socket);
        try {
          const helper = await journal.connect("helper");
          const client = await journal.connect("sender", {
            tcp: `127.0.0.1:${link.port}`,
            reconnectTimeoutMs: 120_000,
          });
          const watched = watchRelease(client);
          const input = join(own.dir, "decided.in");
          await Bun.write(input, new Uint8Array(1000).fill(7));
          const source = Source.open(input);
          const sent = sendStream(client, "jf-decided", source, {}).then(
            (result) => ({ bytes: result.bytes, leftHeld: result.leftHeld }),
            (error: { code?: string; message?: string }) => ({ code: error.code, message: error.message }),
          );
          const receiver = await ChannelReceiver.open(await journal.connect("receiver"), "jf-decided");
          expect(await receiver.receive(() => {})).toBe(1000);

          // The arbiter goes away before the verdict, which the receiver gives without it.
          link.control.blocked = true;
          await arbiter.kill9();
          await eventually(async () => !client.arbiterLink.greeted, 20_000, "the sender's link going down");
          expect(await receiver.receive(() => {})).toBeUndefined();
          await eventually(async () => watched.releasing, 20_000, "the sender's release");

          // Back with a full journal: the sender's release is refused.
          await arbiter.restart();
          await receiver.close();
          journal.fill();
          expect(await untilRefused(helper)).toBe("JournalFull");
          link.control.blocked = false;
          // Before: { code: "JournalFull", message: "Failed to record a change in the state journal ..." }.
          const told = await sent;
          source.close();
          // The transfer stands; what its release left held is said, and where it goes.
          expect(told).toEqual({
            bytes: 1000,
            leftHeld: expect.stringMatching(leftHeld("sender", "jf-decided")),
          });
        } finally {
          link.stop();
        }
      },
      // A lease far longer than the test: the sender's release does not give up on the arbiter meanwhile.
      { lease: "60s" },
    ),
  90_000,
);

testUnless(
  cannotMount,
  "a receive decided while the arbiter was away succeeds, its file kept, when the arbiter back with a full journal refuses its release",
  () =>
    withSmallJournal(
      "received",
      async (journal) => {
        const { own, arbiter } = journal;
        const link = droppingRelay(own.socket);
        try {
          const helper = await journal.connect("helper");
          const client = await journal.connect("receiver", {
            tcp: `127.0.0.1:${link.port}`,
            reconnectTimeoutMs: 120_000,
          });
          const watched = watchRelease(client);
          const sender = await ChannelSender.open(await journal.connect("sender"), "jf-recv", {});
          await sender.write(new Uint8Array(1000).fill(9));
          sender.flush();
          const out = join(own.dir, "received.out");
          let got = 0;
          const received = receiveStream(client, "jf-recv", Sink.open(out), {
            update: (bytes) => (got = bytes),
          }).then(
            (result) => ({ bytes: result.bytes, leftHeld: result.leftHeld }),
            (error: { code?: string; message?: string }) => ({ code: error.code, message: error.message }),
          );
          await eventually(async () => got === 1000, 20_000, "the receiver taking the data");

          // The arbiter goes away before the end record, which the receiver then verifies without it.
          link.control.blocked = true;
          await arbiter.kill9();
          await eventually(async () => !client.arbiterLink.greeted, 20_000, "the receiver's link going down");
          expect((await sender.finish()).bytes).toBe(1000);
          await eventually(async () => watched.releasing, 20_000, "the receiver's release");

          // Back with a full journal: the receiver's release is refused.
          await arbiter.restart();
          await sender.close();
          journal.fill();
          expect(await untilRefused(helper)).toBe("JournalFull");
          link.control.blocked = false;
          // Before: { code: "JournalFull", message: "Failed to record a change in the state journal ..." }.
          expect(await received).toEqual({
            bytes: 1000,
            leftHeld: expect.stringMatching(leftHeld("receiver", "jf-recv")),
          });
          expect(readFileSync(out)).toEqual(Buffer.alloc(1000, 9));
        } finally {
          link.stop();
        }
      },
      { lease: "60s" },
    ),
  90_000,
);

testUnless(
  cannotMount,
  "`ivsh guest send` decided while the arbiter was away: exit 0, and a warning for the release the full journal refused",
  () =>
    withSmallJournal(
      "cli",
      async (journal) => {
        const { own, arbiter } = journal;
        const link = droppingRelay(own.socket);
        try {
          const helper = await journal.connect("helper");
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

          await arbiter.restart();
          await receiver.close();
          journal.fill();
          expect(await untilRefused(helper)).toBe("JournalFull");
          link.control.blocked = false;
          // Before: exit 1, "Failed to record a change in the state journal ...".
          expect(await sender.exit()).toBe(0);
          const stderr = await sender.stderr;
          expect(stderr).toContain("sent 1000 B");
          expect(stderr).toMatch(new RegExp(leftHeld("sender", "jf-cli").source.replace("^", "WARN "), "s"));
        } finally {
          link.stop();
        }
      },
      { lease: "60s" },
    ),
  90_000,
);
