/**
 * Channel ends in different VMs (here: a host client and one connected through a guestfwd stand-in, as a
 * guest's is) nap for each other instead of parking (src/transfer/wait.ts): the waiting end looks at the
 * word on a timer with its parked flag down, so the other end sends no WAKE per chunk, which across a
 * VM's NIC is a network send in the guest. Streams through that path arrive bit for bit, and a chunk
 * changed in the ring after it was published is still refused.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Client, connect } from "../src/guest/index.ts";
import { ChannelReceiver, ChannelSender } from "../src/transfer/index.ts";
import { expectRejection } from "./helpers/errors.ts";
import { type FakeGuestfwd, socketGuestfwd } from "./helpers/guestfwd.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";

const CHUNK = 4096;
const DEPTH = 2;

let paths: TestPaths;
let arbiter: ArbiterProcess;
let forward: FakeGuestfwd;
let host: Client;
let guest: Client;

beforeAll(async () => {
  paths = testPaths("channel-nap");
  arbiter = await ArbiterProcess.start(paths);
  forward = socketGuestfwd("nap-vm", paths.socket);
  host = await connect({ socket: paths.socket, region: paths.region, name: "nap-host" });
  guest = await connect({ tcp: `127.0.0.1:${forward.port}`, region: paths.region, name: "nap-guest" });
});
afterAll(async () => {
  await Promise.all([host?.close(), guest?.close()]);
  forward?.stop();
  await arbiter?.stop();
  paths?.cleanup();
});

function randomBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) crypto.getRandomValues(bytes.subarray(at, at + 65536));
  return bytes;
}

const wakes = (client: Client) => client.requestCounts.get("wake") ?? 0;

/**
 * Sends `data` from `from` to `to` in chunks of CHUNK; the slow end sleeps `pauseMs` per chunk, longer
 * than a wait spins (2 ms), so its peer's waits get to the nap. Returns the bytes received and how many
 * WAKEs the slow end sent meanwhile.
 */
async function transfer(
  channel: string,
  data: Uint8Array,
  slow: "receiver" | "sender",
  pauseMs = 4,
): Promise<{ got: Uint8Array; slowWakes: number }> {
  const [from, to] = [host, guest];
  const slowClient = slow === "receiver" ? to : from;
  const sender = await ChannelSender.open(from, channel, { chunkBytes: CHUNK, depth: DEPTH });
  const receiver = await ChannelReceiver.open(to, channel);
  const before = wakes(slowClient);
  const sending = (async () => {
    for (let at = 0; at < data.byteLength; at += CHUNK) {
      if (slow === "sender") await Bun.sleep(pauseMs);
      await sender.write(data.subarray(at, at + CHUNK));
    }
    return sender.finish();
  })();
  const parts: Uint8Array[] = [];
  while (
    (await receiver.receive(async (chunk) => {
      parts.push(chunk.slice());
      if (slow === "receiver") await Bun.sleep(pauseMs);
    })) !== undefined
  ) {}
  const sent = await sending;
  const got = Buffer.concat(parts);
  expect(receiver.summary().digest).toBe(sent.digest);
  const slowWakes = wakes(slowClient) - before;
  await Promise.all([sender.close(), receiver.close()]);
  return { got: new Uint8Array(got), slowWakes };
}

test.each([0, 1, CHUNK - 1, CHUNK, CHUNK + 1])(
  "%i bytes, host sender to a receiver in a VM, both ways slow: bit for bit",
  async (size) => {
    const data = randomBytes(size);
    for (const slow of ["receiver", "sender"] as const) {
      const { got } = await transfer(`nap-${size}-${slow}`, data, slow);
      expect(Buffer.compare(got, data)).toBe(0);
    }
  },
  30_000,
);

test("across VMs the slow end sends (almost) no WAKE: its peer naps instead of parking", async () => {
  const chunks = 40;
  const data = randomBytes(chunks * CHUNK);
  for (const slow of ["receiver", "sender"] as const) {
    const { got, slowWakes } = await transfer(`nap-wakes-${slow}`, data, slow);
    expect(Buffer.compare(got, data)).toBe(0);
    // The peer's first park or two may come before the arbiter said where the slow end is.
    expect(`${slow} slow: ${slowWakes < chunks / 4 ? "few" : slowWakes} wakes`).toBe(
      `${slow} slow: few wakes`,
    );
  }
}, 30_000);

test("two host clients still park: the slow end wakes its peer", async () => {
  const other = await connect({ socket: paths.socket, region: paths.region, name: "nap-host-2" });
  try {
    const sender = await ChannelSender.open(host, "nap-parks", { chunkBytes: CHUNK, depth: DEPTH });
    const receiver = await ChannelReceiver.open(other, "nap-parks");
    const data = randomBytes(20 * CHUNK);
    const before = wakes(other);
    const sending = (async () => {
      await sender.write(data);
      return sender.finish();
    })();
    while ((await receiver.receive(() => Bun.sleep(4))) !== undefined) {}
    await sending;
    expect(wakes(other) - before).toBeGreaterThan(5);
    await Promise.all([sender.close(), receiver.close()]);
  } finally {
    await other.close();
  }
}, 30_000);

test("a chunk changed in the ring after it was published is refused through the nap path", async () => {
  const data = randomBytes(6 * CHUNK);
  const sender = await ChannelSender.open(host, "nap-corrupt", { chunkBytes: CHUNK, depth: DEPTH });
  const receiver = await ChannelReceiver.open(guest, "nap-corrupt");
  const sending = (async () => {
    await sender.write(data);
    return sender.finish();
  })();
  sending.catch(() => {});
  let stomped = false;
  const receiving = (async () => {
    while (
      (await receiver.receive(async () => {
        await Bun.sleep(4);
        // Record 1 is published (the sender is a chunk ahead): a stray writer changes a byte of it.
        if (!stomped && sender.records >= 2) {
          sender.ring.chunk(1)[100]! ^= 0xff;
          stomped = true;
        }
      })) !== undefined
    ) {}
  })();
  await expectRejection(receiving, "DigestMismatch", /arrived/);
  expect(stomped).toBe(true);
  await expect(sending).rejects.toThrow();
  await Promise.all([sender.close(), receiver.close()]);
}, 30_000);
