/**
 * A program that does not await one channel call before making the next, as it may with a socket's
 * writes (found by a trial of the library API). Two write()s in flight at once interleaved their bytes,
 * and the receiver verified the shuffled stream as sent; a send() beside a write() filled the same chunk
 * and ran the ring past its depth (RegionCorrupted); a finish() beside a write() ended the stream before
 * the write's bytes (a DigestMismatch blamed on the receiver); two receive()s at once handed one chunk
 * twice and ran the tail past the head (DigestMismatch, or RegionCorrupted: "the region was overwritten").
 * Each call now waits for the earlier calls on its end, so the stream is the calls' bytes in call order.
 * Sender and receiver are processes of their own.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Client, connect } from "../src/guest/index.ts";
import { ChannelReceiver, ChannelSender } from "../src/transfer/index.ts";
import { expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, spawnFixture } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("overlapping-calls");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test.each([
  ["writes", "one"],
  ["send-write", "one"],
  ["writes", "receives"],
] as const)(
  "calls not awaited one by one (sender: %s, receiver: %s at a time) send the calls' bytes in call order",
  async (sending, receiving) => {
    const channel = `overlap-${sending}-${receiving}`;
    const receiver = spawnFixture(
      "overlapping-calls",
      clientConfig(paths, { role: "recv", case: receiving, channel }),
    );
    const sender = spawnFixture(
      "overlapping-calls",
      clientConfig(paths, { role: "send", case: sending, channel }),
    );
    try {
      const [sent, received] = await Promise.all([
        sender.events.next("sent", 30_000),
        receiver.events.next("received", 30_000),
      ]);
      expect(sent).toMatchObject({ ok: true, lateCodes: ["InvalidArgument", "InvalidArgument"] });
      expect(received).toMatchObject({ ok: true, received: sent.sent });
      expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
    } finally {
      sender.proc.kill("SIGKILL");
      receiver.proc.kill("SIGKILL");
    }
  },
  60_000,
);

test("a call made inside a callback of a call on the same end is refused, not left waiting for that call for ever", async () => {
  const clients = await Promise.all(
    [1, 2, 3].map(() => connect({ socket: paths.socket, region: paths.region })),
  );
  const [sending, receiving, relaying] = clients as [Client, Client, Client];
  const sender = await ChannelSender.open(sending, "nested", { chunkBytes: 4096, depth: 2 });
  const receiver = await ChannelReceiver.open(receiving, "nested");
  const inside = /since it was made inside a callback of another call on the same end/;
  const nestedWrite = async (chunk: Uint8Array) => {
    await sender.write(new Uint8Array(1));
    return chunk.byteLength;
  };
  await expectRejection(sender.send(nestedWrite), "InvalidArgument", inside);
  await sender.write(new Uint8Array([1, 2, 3]));
  sender.flush();
  await expectRejection(
    receiver.receive(() => receiver.receive(() => {})),
    "InvalidArgument",
    inside,
  );
  // Another end's calls are not refused there: a relay writes each chunk it receives.
  const relay = await ChannelSender.open(relaying, "nested-relay", { chunkBytes: 4096, depth: 2 });
  const relayed = ChannelReceiver.open(sending, "nested-relay").then(async (end) => {
    const got: number[] = [];
    while ((await end.receive((chunk) => got.push(...chunk))) !== undefined) {}
    await end.close();
    return got;
  });
  const finishing = sender.finish();
  while ((await receiver.receive((chunk) => relay.write(chunk))) !== undefined) {}
  expect((await finishing).bytes).toBe(3);
  await relay.finish();
  expect(await relayed).toEqual([1, 2, 3]);
  await Promise.all([sender.close(), receiver.close(), relay.close()]);
  await Promise.all(clients.map((client) => client.close()));
});

test("a call a callback leaves scheduled, made once the callback returned, waits its turn instead of being refused", async () => {
  const clients = await Promise.all(
    [1, 2].map(() => connect({ socket: paths.socket, region: paths.region })),
  );
  const [sending, receiving] = clients as [Client, Client];
  const sender = await ChannelSender.open(sending, "scheduled", { chunkBytes: 4096, depth: 4 });
  const receiver = await ChannelReceiver.open(receiving, "scheduled");
  // The filler returns at once; the write it scheduled runs after the send, in call order.
  let write: Promise<void> | undefined;
  const sent = await sender.send((chunk) => {
    queueMicrotask(() => {
      write = sender.write(new Uint8Array([2, 2]));
    });
    chunk[0] = 1;
    return 1;
  });
  expect(sent).toBe(1);
  await write;
  const finishing = sender.finish();
  const got: number[] = [];
  let next: Promise<number | undefined> | undefined;
  await receiver.receive((chunk) => {
    got.push(...chunk);
    queueMicrotask(() => {
      next = receiver.receive((more) => void got.push(...more));
    });
  });
  expect(await next).toBe(2);
  expect(await receiver.receive(() => {})).toBeUndefined();
  expect(got).toEqual([1, 2, 2]);
  expect((await finishing).bytes).toBe(3);
  await Promise.all([sender.close(), receiver.close()]);
  await Promise.all(clients.map((client) => client.close()));
});
