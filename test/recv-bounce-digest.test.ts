/**
 * ChannelReceiver.receive with a bounce buffer (what recv --out FILE uses under TCG: src/transfer/
 * piped-file.ts) promises that the digest covers exactly the bytes copied out and handed on, whatever
 * another guest writes into the ring meanwhile. A stray writer that changes a byte of a published chunk
 * and puts it back right after the receiver's copy must not leave a wrong byte in the file behind a
 * matching digest.
 */
import { expect, test } from "bun:test";
import { type Client, connect } from "../src/guest/index.ts";
import { StreamDigest } from "../src/transfer/digest.ts";
import { ChannelReceiver, ChannelSender } from "../src/transfer/index.ts";
import { expectRejection } from "./helpers/errors.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("recv-bounce-digest", { size: "16MiB" });

async function clients(): Promise<[Client, Client]> {
  const options = { socket: suite.socket, region: suite.region };
  return (await Promise.all([connect(options), connect(options)])) as [Client, Client];
}

test.each([
  ["a record of 100 bytes (hashed without the helper)", 100],
  ["a record of 64 KiB + 100 bytes (its short last piece)", (64 << 10) + 100],
])(
  "through a bounce buffer, %s: a byte changed in the ring only until the copy is refused",
  async (_label, bytes) => {
    const [sending, receiving] = await clients();
    try {
      const channel = `bounce-${bytes}`;
      const sender = await ChannelSender.open(sending, channel, { chunkBytes: 256 << 10, depth: 2 });
      const receiver = await ChannelReceiver.open(receiving, channel);
      const data = new Uint8Array(bytes).fill(0x5a);
      const sending_ = (async () => {
        await sender.write(data);
        return sender.finish();
      })();
      sending_.catch(() => {});
      const ring = sender.ring.chunk(0);
      const at = bytes - 10; // in the record's last (short) piece
      let restored = false;
      // The stray writer's change is in the ring when the receiver copies the chunk; right after the copy
      // it is undone (another guest writing the ring twice), before anything could read the ring again.
      class Bounce extends Uint8Array {
        override set(source: ArrayLike<number>, offset?: number): void {
          super.set(source, offset);
          // Only once the changed byte was copied: the copy holds 0xa5.
          if (!restored && this.includes(0xa5)) {
            ring[at] = 0x5a;
            restored = true;
          }
        }
      }
      const bounce = new Bounce(64 << 10);
      const got: Uint8Array[] = [];
      while (sender.records < 1) await Bun.sleep(1);
      ring[at] = 0xa5;
      const receiving_ = (async () => {
        while ((await receiver.receive((piece) => void got.push(piece.slice()), bounce)) !== undefined) {}
      })();
      // The file would hold 0xa5 where the sender sent 0x5a: the digest must say so.
      await expectRejection(receiving_, "DigestMismatch", /arrived/);
      expect(restored).toBe(true);
      expect(got.some((piece) => piece.includes(0xa5))).toBe(true);
      await expect(sending_).rejects.toThrow();
      await Promise.all([sender.close(), receiver.close()]);
    } finally {
      await Promise.all([sending.close(), receiving.close()]);
    }
  },
  30_000,
);

test("copying out and hashing the copy gives the digest of the bytes, native or portable", () => {
  for (const length of [1, 240, 241, 4096 + 7, (64 << 10) - 1, 64 << 10, (1 << 20) + 65])
    for (const portable of [false, true]) {
      const bytes = new Uint8Array(length).map((_, i) => (i * 131 + length) & 0xff);
      const [plain, copied] = [new StreamDigest({ portable }), new StreamDigest({ portable })];
      plain.update(bytes);
      const copy = new Uint8Array(length);
      copied.copyAndUpdate(copy, bytes, true);
      expect(copy).toEqual(bytes);
      expect(copied.hex).toBe(plain.hex);
    }
});
