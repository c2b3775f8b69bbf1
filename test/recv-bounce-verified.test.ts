/**
 * ChannelReceiver.receive with a bounce buffer (recv --out FILE under TCG, src/transfer/piped-file.ts): an
 * untouched stream through it is verified, digest and all, as one received in place; a bounce buffer that
 * is not a whole number of digest pieces is refused up front (its copies would cut the pieces elsewhere).
 */
import { expect, test } from "bun:test";
import { type Client, connect } from "../src/guest/index.ts";
import { DIGEST_PIECE_BYTES } from "../src/transfer/digest.ts";
import { ChannelReceiver, ChannelSender } from "../src/transfer/index.ts";
import { expectRejection } from "./helpers/errors.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("mut22-bounce", { size: "16MiB" });

async function bothEnds(channel: string) {
  const options = { socket: suite.socket, region: suite.region };
  const [sending, receiving] = (await Promise.all([connect(options), connect(options)])) as [Client, Client];
  const sender = await ChannelSender.open(sending, channel, { chunkBytes: 256 << 10, depth: 2 });
  const receiver = await ChannelReceiver.open(receiving, channel);
  const close = async () => {
    await Promise.all([sender.close(), receiver.close()]);
    await Promise.all([sending.close(), receiving.close()]);
  };
  return { sender, receiver, close };
}

test("a stream received through a bounce buffer is verified: the bytes, and the sender's digest", async () => {
  const { sender, receiver, close } = await bothEnds("bounce-clean");
  try {
    // Several chunks, the last partly filled: whole pieces, and a short last one.
    const data = new Uint8Array((600 << 10) + 123).map((_, i) => (i * 31) & 0xff);
    const sending = (async () => {
      await sender.write(data);
      return sender.finish();
    })();
    const got: Uint8Array[] = [];
    const bounce = new Uint8Array(DIGEST_PIECE_BYTES);
    while ((await receiver.receive((piece) => void got.push(piece.slice()), bounce)) !== undefined) {}
    const sent = await sending;
    expect(Buffer.concat(got).equals(Buffer.from(data))).toBe(true);
    expect(receiver.summary()).toEqual(sent);
  } finally {
    await close();
  }
});

test("a bounce buffer that is not a whole number of digest pieces is refused before anything is read", async () => {
  const { sender, receiver, close } = await bothEnds("bounce-odd");
  try {
    // A record there to read: a bounce buffer let through would read it, not wait.
    await sender.write(new Uint8Array(256 << 10));
    for (const bytes of [1000, DIGEST_PIECE_BYTES + 1, DIGEST_PIECE_BYTES * 2 - 7])
      await expectRejection(
        receiver.receive(() => {}, new Uint8Array(bytes)),
        "InvalidArgument",
        /whole number of 65536-byte pieces/,
      );
  } finally {
    await close();
  }
});
