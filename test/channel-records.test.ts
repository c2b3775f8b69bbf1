/**
 * What a channel's ends publish and accept, record by record, through the library in one process: records
 * are written into the ring as a scribbling guest would, to see that each end refuses what no sender writes.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { isIvshError } from "../src/errors.ts";
import { type Client, connect } from "../src/guest/index.ts";
import { RECORD_END, RecordField } from "../src/region/layout.ts";
import { StreamDigest } from "../src/transfer/digest.ts";
import { ChannelReceiver } from "../src/transfer/receiver.ts";
import { ChannelSender } from "../src/transfer/sender.ts";
import { expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let client: Client;
let other: Client;

beforeAll(async () => {
  paths = testPaths("channel-records");
  arbiter = await ArbiterProcess.start(paths);
  client = await connect({ socket: paths.socket, region: paths.region, name: "records-receiver" });
  other = await connect({ socket: paths.socket, region: paths.region, name: "records-sender" });
});
afterAll(async () => {
  await Promise.all([client?.close(), other?.close()]);
  await arbiter?.stop();
  paths?.cleanup();
});

const RING = { chunkBytes: 65536, depth: 2 };

/** Both ends of a fresh transfer on `channel`. */
async function bothEnds(channel: string, signal?: AbortSignal) {
  const receiving = ChannelReceiver.open(client, channel);
  const sender = await ChannelSender.open(other, channel, signal ? { ...RING, signal } : RING);
  return { sender, receiver: await receiving };
}

/** Writes record 0's header as a scribbling guest would, and publishes it (head 1). */
function forgeFirstRecord(
  sender: ChannelSender,
  record: { length: number; flags: number; totalBytes?: number; digest?: bigint },
) {
  const at = sender.ring.header(0);
  sender.ring.headers.setUint32(at + RecordField.length, record.length, true);
  sender.ring.headers.setUint32(at + RecordField.flags, record.flags, true);
  sender.ring.headers.setBigUint64(at + RecordField.totalBytes, BigInt(record.totalBytes ?? 0), true);
  sender.ring.headers.setBigUint64(at + RecordField.digest, record.digest ?? 0n, true);
  sender.slot.store("head", 1);
}

test("a data record of 0 bytes (no sender publishes one) is RegionCorrupted at the receiver", async () => {
  const { sender, receiver } = await bothEnds("empty-record");
  forgeFirstRecord(sender, { length: 0, flags: 0 });
  await expectRejection(
    receiver.receive(() => {}),
    "RegionCorrupted",
    /record 0 claims 0 bytes with flags 0/,
  );
  await Promise.all([sender.close(), receiver.close()]);
});

test("a data record claiming more bytes than a chunk holds is RegionCorrupted, not cut to the chunk", async () => {
  const { sender, receiver } = await bothEnds("oversized-record");
  forgeFirstRecord(sender, { length: RING.chunkBytes + 1, flags: 0 });
  await expectRejection(
    receiver.receive(() => {}),
    "RegionCorrupted",
    new RegExp(`record 0 claims ${RING.chunkBytes + 1} bytes with flags 0`),
  );
  await Promise.all([sender.close(), receiver.close()]);
});

test("an end record whose byte count differs from what arrived is a DigestMismatch, even with the digest right", async () => {
  const { sender, receiver } = await bothEnds("miscounted-end");
  // The digest of the empty stream the receiver has, but a count of 5 bytes.
  forgeFirstRecord(sender, { length: 0, flags: RECORD_END, totalBytes: 5, digest: new StreamDigest().value });
  await expectRejection(
    receiver.receive(() => {}),
    "DigestMismatch",
    /the sender sent 5 bytes with digest .* but 0 bytes with digest .* arrived/,
  );
  await Promise.all([sender.close(), receiver.close()]);
});

test("a send() filler that writes nothing (returns 0) publishes no record", async () => {
  const { sender, receiver } = await bothEnds("filled-nothing");
  expect(await sender.send(() => 0)).toBe(0);
  expect(sender.records).toBe(0);
  expect(sender.slot.load("head")).toBe(0);
  await Promise.all([sender.close(), receiver.close()]);
});

test("finish() with its signal already aborted publishes no end record: the interruption wins", async () => {
  const controller = new AbortController();
  const { sender, receiver } = await bothEnds("aborted-before-end", controller.signal);
  await sender.write(new Uint8Array(1000));
  sender.flush();
  controller.abort("test");
  await expectRejection(sender.finish(), "Interrupted");
  expect(sender.slot.load("head")).toBe(1); // the data record only
  await Promise.all([sender.close(), receiver.close()]);
});

test("a sender closed again after its client opened the next sender on the channel leaves that one's role alone", async () => {
  const { sender: first, receiver } = await bothEnds("closed-again");
  const finishing = first.finish();
  expect(await receiver.receive(() => {})).toBeUndefined();
  await finishing;
  await Promise.all([first.close(), receiver.close()]);
  const second = await ChannelSender.open(other, "closed-again", RING);
  await first.close(); // again: a no-op, not a second release of the slot's sender role
  await expectRejection(
    ChannelSender.open(client, "closed-again", RING),
    "ChannelBusy",
    /the channel is busy/,
  );
  await second.close();
});

test("a receiver closed again after its client opened the next receiver on the channel leaves that one's role alone", async () => {
  const { sender, receiver: first } = await bothEnds("received-again");
  const finishing = sender.finish();
  expect(await first.receive(() => {})).toBeUndefined();
  await finishing;
  await Promise.all([sender.close(), first.close()]);
  const waiting = new AbortController();
  const second = ChannelReceiver.open(client, "received-again", { signal: waiting.signal }); // no sender yet
  await Bun.sleep(50);
  await first.close(); // again: a no-op, not a second release of the slot's receiver role
  await expectRejection(ChannelReceiver.open(other, "received-again"), "ChannelBusy", /the channel is busy/);
  waiting.abort("test");
  await expectRejection(second, "Interrupted");
});

test("a sender parked waiting for a receiver is woken by the join, not left to its next 500 ms wait slice", async () => {
  const requests = (of: Client, kind: string) => of.requestCounts.get(kind) ?? 0;
  const sender = await ChannelSender.open(other, "join-wakes", RING);
  const waitsBefore = requests(other, "wait");
  const finishing = sender.finish(); // no receiver yet: it parks on the join word
  // Parked once its WAIT is out (it raised its parked flag first): then the join owes it a WAKE.
  while (requests(other, "wait") === waitsBefore) await Bun.sleep(5);
  const wakesBefore = requests(client, "wake");
  const receiver = await ChannelReceiver.open(client, "join-wakes");
  expect(requests(client, "wake") - wakesBefore).toBe(1);
  expect(await receiver.receive(() => {})).toBeUndefined();
  await finishing;
  await Promise.all([sender.close(), receiver.close()]);
});

test("a receiver arriving after the joined receiver left without a word does not join that transfer midway", async () => {
  const gone = await connect({ socket: paths.socket, region: paths.region, name: "records-gone" });
  const receiving = ChannelReceiver.open(gone, "joined-midway");
  const sender = await ChannelSender.open(other, "joined-midway", RING);
  const first = await receiving;
  await sender.write(new Uint8Array(RING.chunkBytes));
  expect(await first.receive(() => {})).toBe(RING.chunkBytes);
  await gone.close(); // its locks go with its session; the transfer is still streaming, joined by it
  const waiting = new AbortController();
  let waited = false;
  const second = ChannelReceiver.open(client, "joined-midway", {
    signal: waiting.signal,
    onWaiting: () => {
      waited = true;
    },
  });
  // It waits for a sender of its own (onWaiting), where joining midway would have opened at once.
  const outcome = await Promise.race([
    second.then(
      () => "joined",
      () => "failed",
    ),
    (async () => {
      while (!waited) await Bun.sleep(5);
      return "waiting";
    })(),
  ]);
  expect(outcome).toBe("waiting");
  waiting.abort("test");
  await expectRejection(second, "Interrupted");
  await sender.close();
});

test("an end record that claims bytes of its own (no sender writes one) is RegionCorrupted, not the end", async () => {
  const { sender, receiver } = await bothEnds("end-with-bytes");
  forgeFirstRecord(sender, { length: 5, flags: RECORD_END, digest: new StreamDigest().value });
  await expectRejection(
    receiver.receive(() => {}),
    "RegionCorrupted",
    /record 0 claims 5 bytes with flags 1/,
  );
  await Promise.all([sender.close(), receiver.close()]);
});

test("a receiver whose session ends before it reads the end record: the sender's finish() fails PeerGone, not waits on", async () => {
  const gone = await connect({ socket: paths.socket, region: paths.region, name: "records-gone-at-end" });
  const receiving = ChannelReceiver.open(gone, "gone-at-end");
  const sender = await ChannelSender.open(other, "gone-at-end", RING);
  await receiving;
  const finishing = sender.finish(); // the end record is out; the receiver never reads it
  await Bun.sleep(50);
  await gone.close();
  const bounded = Bun.sleep(5000).then(() => "still waiting");
  const outcome = await Promise.race([
    finishing.then(
      () => "finished",
      (error) => error,
    ),
    bounded,
  ]);
  expect(isIvshError(outcome) ? outcome.code : outcome).toBe("PeerGone");
  await sender.close();
});
