/**
 * Where `ivsh guest send` reads from: sizes around the digest's piece and the chunk, files on tmpfs and on
 * a disk, a /proc file whose size says nothing, and a file that changes while it is sent (the transfer
 * fails, the receiver keeps no copy). Every case is two separate `ivsh guest` processes.
 */
import { describe, expect, test } from "bun:test";
import {
  appendFileSync,
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statfsSync,
  truncateSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { DIGEST_PIECE_BYTES } from "../src/transfer/digest.ts";
import { DEFAULT_CHUNK_BYTES, DEFAULT_DEPTH } from "../src/transfer/ring-setup.ts";
import { FILE_RING } from "../src/transfer/run.ts";
import { waitUntilOpen } from "./helpers/open-files.ts";
import { REPO } from "./helpers/paths.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { testUnless } from "./helpers/tools.ts";
import { guest, outPath, randomFile, roundTrip, sameBytes, slug } from "./helpers/transfer.ts";

const MIB = 1 << 20;
const TMPFS_MAGIC = 0x01021994;
const suite = sharedArbiter("sources", { size: "64MiB" });

describe("bit-exact round trips with 1 MiB chunks, around a digest piece and a chunk", () => {
  for (const [label, bytes] of [
    ["piece - 1", DIGEST_PIECE_BYTES - 1],
    ["piece", DIGEST_PIECE_BYTES],
    ["piece + 1", DIGEST_PIECE_BYTES + 1],
    ["chunk - 1", MIB - 1],
    ["chunk + 1", MIB + 1],
  ] as const)
    test(label, () => roundTrip(suite.paths, `sized-${slug(label)}`, bytes, { chunk: MIB }));
});

describe("a regular file without --chunk-size or --depth: 4 MiB chunks, depth 2 (the same 8 MiB ring)", () => {
  for (const [label, bytes] of [
    ["chunk - 1", 4 * MIB - 1],
    ["chunk + 1", 4 * MIB + 1],
    ["two chunks and a piece", 9 * MIB + 5],
  ] as const)
    test(label, async () => {
      expect(await roundTrip(suite.paths, `file-ring-${slug(label)}`, bytes, {})).toEqual(FILE_RING);
    });

  test("a pipe keeps the default ring: its reads return what is there, rarely a whole chunk", async () => {
    const output = outPath(suite.paths, "pipe-ring.out");
    const data = new Uint8Array(3 * MIB + 7).map((_, index) => (index * 31 + 7) & 0xff);
    const receiver = guest(suite.paths, ["recv", "--channel", "pipe-ring", "--out", output]);
    const sender = guest(suite.paths, ["send", "-", "--channel", "pipe-ring", "--json"]);
    await sender.proc.stdin.write(data);
    await sender.proc.stdin.end();
    expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
    await sender.events.finished;
    const summary = JSON.parse(sender.events.lines.at(-1)!);
    expect({ chunkBytes: summary.chunkBytes, depth: summary.depth }).toEqual({
      chunkBytes: DEFAULT_CHUNK_BYTES,
      depth: DEFAULT_DEPTH,
    });
    expect(sameBytes(new Uint8Array(readFileSync(output)), data)).toBe(true);
  });
});

describe("sources on different file systems", () => {
  test("a file on tmpfs", () =>
    roundTrip(suite.paths, "on-tmpfs", 3 * MIB + 5, { chunk: MIB, inputDir: suite.shmDir }));

  const diskParent = [REPO, "/var/tmp", "/tmp"].find((dir) => statfsSync(dir).type !== TMPFS_MAGIC);
  const noDisk = diskParent
    ? undefined
    : "every candidate directory (the checkout, /var/tmp, /tmp) is on tmpfs here, so no file is on a disk";
  testUnless(noDisk, "a file on a disk (not tmpfs)", async () => {
    const dir = mkdtempSync(join(diskParent as string, ".ivsh-disk-source-"));
    try {
      await roundTrip(suite.paths, "on-disk", 3 * MIB + 5, { chunk: MIB, inputDir: dir });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a /proc file (its size says 0) is read to its end", async () => {
    const output = outPath(suite.paths, "proc.out");
    const receiver = guest(suite.paths, ["recv", "--channel", "proc", "--out", output]);
    const sender = guest(suite.paths, ["send", "/proc/filesystems", "--channel", "proc"]);
    expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
    const sent = readFileSync("/proc/filesystems");
    expect(sent.byteLength).toBeGreaterThan(0);
    expect(sameBytes(new Uint8Array(readFileSync(output)), new Uint8Array(sent))).toBe(true);
  });
});

describe("a file that changes while it is sent fails the transfer; the receiver keeps no copy", () => {
  const changes: [string, (file: string) => void, RegExp][] = [
    [
      "grows",
      (file) => appendFileSync(file, "one more line\n"),
      /its size went from 33554432 to 33554446 bytes/,
    ],
    ["shrinks", (file) => truncateSync(file, 16 * MIB), /it ended after 16777216 of its 33554432 bytes/],
    ["is written in place", (file) => overwrite(file, 20 * MIB, "scribble"), /it was written to/],
  ];
  for (const [label, change, reason] of changes)
    test(label, async () => {
      const channel = `changing-${slug(label)}`;
      const input = join(suite.dir, `${channel}.in`);
      const output = outPath(suite.paths, `${channel}.out`);
      await randomFile(input, 32 * MIB);
      // The sender opens the file, fills the ring (8 MiB) and waits: no receiver yet. The change comes
      // once it has read into the ring (so after it took the file's size and time when it opened it).
      const sender = guest(suite.paths, ["send", input, "--channel", channel, "--chunk-size", "1MiB"]);
      await waitUntilOpen(sender.proc.pid, input, MIB);
      change(input);
      const receiver = guest(suite.paths, ["recv", "--channel", channel, "--out", output]);
      expect(await sender.exit()).toBe(1);
      expect(await sender.stderr).toMatch(new RegExp(`Failed to send ${input} since ${reason.source}`));
      // Not "no copy": the receiver says what arrived is left in FILE.partial, unverified.
      expect(await sender.stderr).toContain("the receiver keeps no verified copy");
      expect(await receiver.exit()).not.toBe(0);
      expect(await Bun.file(output).exists()).toBe(false);
    });
});

test("a ring larger than the region: the error says which flags make it fit", async () => {
  const input = join(suite.dir, "big-ring.in");
  await randomFile(input, 80 * MIB);
  const sender = guest(suite.paths, [
    "send",
    input,
    "--channel",
    "big-ring",
    "--chunk-size",
    "16MiB",
    "--depth",
    "8",
  ]);
  expect(await sender.exit()).toBe(1);
  // The ring is cut to the file's size first (6 chunks here), and is still too big.
  expect(await sender.stderr).toMatch(
    /Failed to open channel 'big-ring' with a ring of \d+ chunks of 16\.0 MiB \([\d.]+ MiB\) since it needs/,
  );
  // The flags only: "(in the library: chunkBytes, depth)" is for the library's users (errors.ts libraryForm).
  expect(await sender.stderr).toContain(
    "pass a smaller --chunk-size or --depth, or start the arbiter with a larger --size",
  );
});

function overwrite(file: string, position: number, text: string): void {
  const fd = openSync(file, "r+");
  try {
    writeSync(fd, text, position);
  } finally {
    closeSync(fd);
  }
}
