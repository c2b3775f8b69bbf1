/**
 * A channel's slot words and the peers they name: a receiver that leaves mid-stream, a sender whose
 * receiver died, words a rogue guest overwrote (each end fails naming them instead of waiting), and the
 * words' extremes (a 2 GiB chunk, a transfer number past 2^31 - 1).
 */
import { expect, test } from "bun:test";
import { connect, isIvshError } from "../src/guest/index.ts";
import { ChannelReceiver } from "../src/transfer/receiver.ts";
import { ChannelSender } from "../src/transfer/sender.ts";
import { channelProbes } from "./helpers/channel-probes.ts";
import { expectRejection } from "./helpers/errors.ts";
import { eventually, livenessBoundMs } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { guest, outPath, randomFile, sameBytes, waitForSize } from "./helpers/transfer.ts";

// Long enough that a receiver the test keeps stopped for a moment is not expired under a loaded machine.
const LEASE_MS = 5000;
const suite = sharedArbiter("xfault-words", { size: "64MiB", lease: `${LEASE_MS}ms` });
const { expectNothingHeld, roleHolder, writeChannelWord } = channelProbes(suite, LEASE_MS);

test("a receiver that leaves mid-stream stops its sender at once, whatever its lock word says", async () => {
  const [client, other] = await Promise.all(
    ["sender", "receiver"].map((name) => connect({ socket: suite.socket, region: suite.region, name })),
  );
  const sender = await ChannelSender.open(client!, "drop", { chunkBytes: 65536, depth: 2 });
  const receiver = await ChannelReceiver.open(other!, "drop");
  // More than the ring holds: the sender ends up waiting for space when the receiver leaves.
  const writing = sender.write(new Uint8Array(1 << 20)).catch((error: unknown) => error);
  expect(await receiver.receive(() => {})).toBe(65536);
  await receiver.close(); // before the end: the transfer is dropped
  const error = await writing;
  expect(isIvshError(error, "PeerGone")).toBe(true);
  expect(String(error)).toMatch(/the receiver \(client \d+\) gave up before the end/);
  await sender.close();
  await Promise.all([client!.close(), other!.close()]);
  await expectNothingHeld();
});

test("a sender whose receiver died streams to the next receiver, which waited for it", async () => {
  const dead = guest(suite.paths, ["recv", "--channel", "next", "--out", outPath(suite.paths, "dead.out")]);
  const first = guest(suite.paths, ["send", "-", "--channel", "next", "--block-size", "64KiB"]);
  first.proc.stdin.write(new Uint8Array(256 << 10).fill(3));
  await first.proc.stdin.flush();
  await waitForSize(outPath(suite.paths, "dead.out.partial"), 256 << 10);
  dead.proc.kill("SIGKILL");
  const bound = livenessBoundMs(LEASE_MS);
  await eventually(
    async () => (await roleHolder("next", "receiver")) === 0,
    bound,
    "releasing the dead role",
  );
  // A new receiver takes the role the arbiter released, and waits for a transfer of its own.
  const next = guest(suite.paths, ["recv", "--channel", "next", "--out", outPath(suite.paths, "next.out")]);
  await eventually(async () => (await roleHolder("next", "receiver")) !== 0, bound, "the next receiver");
  expect(await first.exit(livenessBoundMs(LEASE_MS))).toBe(1); // it was streaming to the dead one
  const data = await randomFile(outPath(suite.paths, "next.in"), 300_000);
  const second = guest(suite.paths, ["send", outPath(suite.paths, "next.in"), "--channel", "next"]);
  expect([await second.exit(), await next.exit()]).toEqual([0, 0]);
  expect(
    sameBytes(new Uint8Array(await Bun.file(outPath(suite.paths, "next.out")).arrayBuffer()), data),
  ).toBe(true);
  await expectNothingHeld();
});

test("an end's own counter overwritten: it fails naming it, and so does its peer, instead of both waiting", async () => {
  const output = outPath(suite.paths, "scribbled.out");
  const receiver = guest(suite.paths, ["recv", "--channel", "scribbled", "--out", output]);
  const sender = guest(suite.paths, [
    "send",
    "-",
    "--channel",
    "scribbled",
    "--block-size",
    "64KiB",
    "--depth",
    "4",
  ]);
  sender.proc.stdin.write(new Uint8Array(200_000).fill(4));
  await sender.proc.stdin.flush();
  await waitForSize(`${output}.partial`, 200_000); // both now wait: the receiver for data, the sender for input
  // Another guest sets the receiver's tail back by one: each end would wait for the other for ever.
  await writeChannelWord("scribbled", "tail", (tail) => tail - 1);
  expect(await receiver.exit(livenessBoundMs(LEASE_MS))).toBe(1);
  expect(await receiver.stderr).toMatch(/tail counter .* overwritten/);
  expect(await sender.exit(livenessBoundMs(LEASE_MS))).toBe(1);
  expect(await Bun.file(output).exists()).toBe(false);
  await expectNothingHeld();
});

test("the word naming the transfer its receiver joined, overwritten: the sender fails naming it instead of waiting for ever", async () => {
  const output = outPath(suite.paths, "joined.out");
  const receiver = guest(suite.paths, ["recv", "--channel", "joined", "--out", output]);
  const sender = guest(suite.paths, [
    "send",
    "-",
    "--channel",
    "joined",
    "--chunk-size",
    "64KiB",
    "--depth",
    "4",
  ]);
  const input = new Uint8Array(800_000).fill(6);
  sender.proc.stdin.write(input.subarray(0, 200_000));
  await sender.proc.stdin.flush();
  await waitForSize(`${output}.partial`, 200_000); // joined, and consuming
  // Another guest overwrites receiverJoined: the sender waited on it for a receiver that had long joined
  // (soak seed 1304, scenario 56: both ends hung).
  await writeChannelWord("joined", "receiverJoined", (transfer) => transfer + 1000);
  try {
    sender.proc.stdin.write(input.subarray(200_000));
    await sender.proc.stdin.end();
  } catch {
    // EPIPE: the sender already failed (the stderr check below says why)
  }
  const sent = await sender.exit(livenessBoundMs(LEASE_MS));
  await receiver.exit(livenessBoundMs(LEASE_MS));
  if (sent === 0) {
    // The receiver's verdict came before the sender looked: a verified, bit-exact copy.
    expect(sameBytes(new Uint8Array(await Bun.file(output).arrayBuffer()), input)).toBe(true);
  } else {
    expect(await sender.stderr).toMatch(
      /naming the transfer it joined holds \d+, not \d+: the region was overwritten/,
    );
    expect(await Bun.file(output).exists()).toBe(false);
  }
  await expectNothingHeld();
});

test("a 2 GiB chunk (the largest the layout allows) is read back from its slot word as 2 GiB, not as a negative", async () => {
  const [sending, receiving] = await Promise.all(
    ["announcing sender", "reading receiver"].map((name) =>
      connect({ socket: suite.socket, region: suite.region, name }),
    ),
  );
  const sender = await ChannelSender.open(sending!, "wide", { chunkBytes: 65536, depth: 4 });
  // A 2 GiB ring needs a region of over 4 GiB: the slot announces it, the 64 MiB test region's ring
  // segment cannot hold it, and the receiver's refusal shows what it read.
  sender.slot.store("chunkBytes", 2 ** 31);
  await expectRejection(
    ChannelReceiver.open(receiving!, "wide"),
    "RegionCorrupted",
    /a ring of 4 × 2147483648 bytes does not fit its/,
  );
  await sender.close().catch(() => {});
  await Promise.all([sending!.close(), receiving!.close()]);
});

test("a transfer number past 2^31 - 1 wraps to 1: both ends read the slot word alike and name the same ring", async () => {
  const [sending, receiving] = await Promise.all(
    ["wrapping sender", "wrapping receiver"].map((name) =>
      connect({ socket: suite.socket, region: suite.region, name }),
    ),
  );
  // The receiver holds the channel's slot while it waits; the slot then reads as after 2^31 - 1 transfers.
  const opening = ChannelReceiver.open(receiving!, "wrap");
  const setTransfer = async () => {
    await writeChannelWord("wrap", "transfer", () => 2 ** 31 - 1); // nothing until the receiver claimed the slot
    return (await writeChannelWord("wrap", "transfer", (value) => value)) === 2 ** 31 - 1;
  };
  await eventually(setTransfer, livenessBoundMs(LEASE_MS), "the slot's transfer number set");
  const sender = await ChannelSender.open(sending!, "wrap", { chunkBytes: 65536, depth: 4 });
  const receiver = await opening;
  expect(receiver.transfer).toBe(sender.transfer);
  await sender.write(new Uint8Array(1000).fill(9));
  const finishing = sender.finish();
  let received = 0;
  for (
    let length = await receiver.receive(() => {});
    length !== undefined;
    length = await receiver.receive(() => {})
  )
    received += length;
  expect(received).toBe(1000);
  expect((await finishing).bytes).toBe(1000);
  await receiver.close();
  await sender.close();
  await Promise.all([sending!.close(), receiving!.close()]);
});
