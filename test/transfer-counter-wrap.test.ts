/**
 * A transfer's record counters (head, tail) are u32s in Int32 slot words: a long stream of small records
 * (a library user's write() and flush() per message, a trickling pipe) passes 2^31 records and then wraps
 * past 2^32. Both ends are started near those points (their counters and the slot's words set before the
 * first record, as if that many records had gone by) and must carry the stream across bit-exact.
 */
import { expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { ChannelReceiver } from "../src/transfer/receiver.ts";
import { recordsInFlight } from "../src/transfer/ring.ts";
import { ChannelSender } from "../src/transfer/sender.ts";
import { expectFailure } from "./helpers/errors.ts";
import { livenessBoundMs, spawnFixture } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { sameBytes } from "./helpers/transfer.ts";

const suite = sharedArbiter("counter-wrap", { size: "16MiB" });

/** Sends `records` records of `bytes` each (one flush each), starting from record number `start`. */
async function acrossCounter(channel: string, start: number, depth: number, records: number, bytes: number) {
  const [sending, receiving] = await Promise.all(
    ["wrap sender", "wrap receiver"].map((name) =>
      connect({ socket: suite.socket, region: suite.region, name }),
    ),
  );
  const sender = await ChannelSender.open(sending!, channel, { chunkBytes: 4096, depth });
  const receiver = await ChannelReceiver.open(receiving!, channel);
  // As after `start` records: nothing is in flight, both counters (ours and the slot's) at `start`.
  (sender as unknown as { head: number }).head = start;
  (receiver as unknown as { tail: number }).tail = start;
  sender.slot.store("head", start);
  sender.slot.store("tail", start);
  const data = new Uint8Array(records * bytes).map((_, index) => (index * 7 + (index >> 8)) & 0xff);
  const sending_ = (async () => {
    for (let record = 0; record < records; record++) {
      await sender.write(data.subarray(record * bytes, (record + 1) * bytes));
      sender.flush();
    }
    return sender.finish();
  })();
  const received: Uint8Array[] = [];
  const receiving_ = (async () => {
    while ((await receiver.receive((chunk) => void received.push(chunk.slice()))) !== undefined);
  })();
  const [sent] = await Promise.all([sending_, receiving_]);
  await Promise.all([sender.close(), receiver.close()]);
  await Promise.all([sending!.close(), receiving!.close()]);
  expect(sent.records).toBe(records);
  expect(sameBytes(Buffer.concat(received), data)).toBe(true);
}

test("a stream passing 2^31 records goes on (the counter reads back negative from its Int32 word)", () =>
  acrossCounter("past-2-31", 2 ** 31 - 3, 4, 12, 1000));

test("a receiver waiting past 2^31 records parks and watches its sender: a sender gone is noticed", async () => {
  const start = 2 ** 31 + 1;
  const sending = await connect({ socket: suite.socket, region: suite.region, name: "leaving sender" });
  const sender = await ChannelSender.open(sending, "parked-2-31", { chunkBytes: 4096, depth: 4 });
  const config = { socket: suite.socket, region: suite.region, channel: "parked-2-31", start };
  const receiver = spawnFixture("wrapped-receiver", config);
  try {
    await receiver.events.next("ready");
    (sender as unknown as { head: number }).head = start;
    await sender.write(new Uint8Array(100).fill(5));
    sender.flush();
    await receiver.events.next("record");
    // Its wait for the next record compared the word with its u32 counter, never equal from 2^31 on: it
    // spun without parking, starving its event loop, and never looked at the sender's lock word.
    await sending.close();
    const failed = await receiver.events.next("failed", livenessBoundMs(5000));
    expect(failed).toMatchObject({ records: 1, code: "PeerGone" });
  } finally {
    receiver.proc.kill("SIGKILL");
  }
});

test("a stream wrapping past 2^32 records in a ring whose depth does not divide 2^32 stays bit-exact", () =>
  // Depth 3: records 2^32 - 1 and 2^32 (0 again) took the same chunk, the second overwriting the first.
  acrossCounter("past-2-32", 2 ** 32 - 4, 3, 12, 1000));

test("counters saying more records are in flight than the ring holds are RegionCorrupted, across the wrap too", () => {
  const depth = 4;
  expect(recordsInFlight(depth, 0, depth, "c")).toBe(depth); // a full ring
  expect(recordsInFlight(2, 2 ** 32 - 2, depth, "c")).toBe(depth); // full, head wrapped past 2^32
  expect(recordsInFlight(-2, -2, depth, "c")).toBe(0); // as Int32 words hold them past 2^31
  for (const [head, tail] of [
    [depth + 1, 0],
    [3, 2 ** 32 - 2],
    [0, 1], // the tail ahead of the head: 2^32 - 1 in flight
  ])
    expectFailure(
      () => recordsInFlight(head!, tail!, depth, "c"),
      "RegionCorrupted",
      /records are in a ring of 4 .*the region was overwritten/,
    );
});
