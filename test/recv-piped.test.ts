/**
 * A receiver that writes its file through a pipe (src/transfer/piped-file.ts: what it does under QEMU's
 * TCG emulator; IVSH_RECV_SPLICE=1 forces it here): each chunk is copied into a private buffer and hashed
 * in the same pass, then vmspliced and spliced into FILE.partial. Bit-exact round trips at the sizes where
 * the chunk and the 1 MiB buffer cut, a chunk changed in the ring after publication refused, a bounce
 * buffer that would cut a digest piece refused, and a full file system named as such with nothing left.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync, readlinkSync } from "node:fs";
import { type Client, connect } from "../src/guest/index.ts";
import { ChannelReceiver, ChannelSender } from "../src/transfer/index.ts";
import { expectRejection } from "./helpers/errors.ts";
import { expectRecvIntoFullFileSystem } from "./helpers/recv-full.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { cannotMount } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";
import { guest, outPath, roundTrip, slug, waitForSize } from "./helpers/transfer.ts";

const suite = sharedArbiter("recv-piped", { size: "64MiB" });
const MiB = 1 << 20;
const CHUNK = 4 * MiB; // a regular file's ring (run.ts FILE_RING)

const forced = process.env.IVSH_RECV_SPLICE;
beforeAll(() => {
  process.env.IVSH_RECV_SPLICE = "1"; // the `ivsh guest` processes spawned below inherit it
});
afterAll(() => {
  if (forced === undefined) delete process.env.IVSH_RECV_SPLICE;
  else process.env.IVSH_RECV_SPLICE = forced;
});

test.each([
  ["empty", 0],
  ["1 byte", 1],
  ["buffer - 1", MiB - 1],
  ["buffer + 1", MiB + 1],
  ["chunk - 1", CHUNK - 1],
  ["chunk", CHUNK],
  ["chunk + 1", CHUNK + 1],
  ["three chunks and a bit", 3 * CHUNK + 12_345],
])(
  "recv --out FILE through the pipe, %s: bit for bit, both digests the reference",
  async (label, bytes) => {
    await roundTrip(suite.paths, `piped-${slug(label)}`, bytes, {});
  },
  60_000,
);

async function clients(): Promise<[Client, Client]> {
  const options = { socket: suite.socket, region: suite.region };
  return (await Promise.all([connect(options), connect(options)])) as [Client, Client];
}

test("through a bounce buffer, a chunk changed in the ring after it was published is refused", async () => {
  const [sending, receiving] = await clients();
  try {
    const chunkBytes = 256 << 10;
    const sender = await ChannelSender.open(sending, "piped-stomped", { chunkBytes, depth: 2 });
    const receiver = await ChannelReceiver.open(receiving, "piped-stomped");
    const data = new Uint8Array(6 * chunkBytes).fill(0x3c);
    const sending_ = (async () => {
      await sender.write(data);
      return sender.finish();
    })();
    sending_.catch(() => {});
    const bounce = new Uint8Array(64 << 10);
    let stomped = false;
    const got: number[] = [];
    const receiving_ = (async () => {
      const consume = async (piece: Uint8Array) => {
        got.push(piece.byteLength);
        await Bun.sleep(1);
        // Record 1 is published (the sender is a chunk ahead): a stray writer changes a byte of it.
        if (!stomped && sender.records >= 2) {
          sender.ring.chunk(1)[100]! ^= 0xff;
          stomped = true;
        }
      };
      while ((await receiver.receive(consume, bounce)) !== undefined) {}
    })();
    await expectRejection(receiving_, "DigestMismatch", /arrived/);
    expect(stomped).toBe(true);
    // Handed on in pieces of the bounce buffer's size.
    expect(new Set(got)).toEqual(new Set([64 << 10]));
    await expect(sending_).rejects.toThrow();
    await Promise.all([sender.close(), receiver.close()]);
  } finally {
    await Promise.all([sending.close(), receiving.close()]);
  }
}, 30_000);

test("a bounce buffer that is not whole digest pieces is refused", async () => {
  const [sending, receiving] = await clients();
  try {
    const sender = await ChannelSender.open(sending, "piped-odd", { chunkBytes: 4096, depth: 2 });
    const receiver = await ChannelReceiver.open(receiving, "piped-odd");
    for (const bounce of [new Uint8Array(0), new Uint8Array(65537)])
      await expectRejection(
        receiver.receive(() => {}, bounce),
        "InvalidArgument",
        /bounce buffer/,
      );
    await Promise.all([sender.close(), receiver.close()]);
  } finally {
    await Promise.all([sending.close(), receiving.close()]);
  }
});

testUnless(
  cannotMount,
  "through the pipe into a file system that fills up: exit 1 naming ENOSPC, and no FILE.partial left",
  async () => {
    await expectRecvIntoFullFileSystem(suite.paths, suite.dir, "piped-full");
  },
  60_000,
);

/** The pipes a process holds beyond its standard streams. */
function pipesOf(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`)
    .filter((fd) => Number(fd) > 2)
    .filter((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith("pipe:");
      } catch {
        return false; // closed meanwhile
      }
    }).length;
}

test("recv --out FILE holds the pipe's two ends while it writes with IVSH_RECV_SPLICE=1, none with 0", async () => {
  const held: Record<string, number> = {};
  for (const setting of ["1", "0"]) {
    const name = `piped-held-${setting}`;
    const output = outPath(suite.paths, name);
    const receiver = guest(suite.paths, ["recv", "--channel", name, "--out", output], {
      IVSH_RECV_SPLICE: setting,
    });
    const sender = guest(suite.paths, ["send", "-", "--channel", name, "--chunk-size", "64KiB"]);
    const piece = new Uint8Array(64 << 10).fill(7);
    sender.proc.stdin.write(piece);
    await sender.proc.stdin.flush();
    await waitForSize(`${output}.partial`, piece.byteLength);
    held[setting] = pipesOf(receiver.proc.pid);
    await sender.proc.stdin.end();
    expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
  }
  expect(held["1"]! - held["0"]!).toBe(2);
}, 60_000);
