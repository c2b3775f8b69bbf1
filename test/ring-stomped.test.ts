/**
 * A buggy guest that keeps writing the same bytes over part of a transfer's ring (fixtures/page-stomper.ts):
 * IVSHMEM gives no isolation, so nothing stops it. The transfer may fail, but it must never end "verified"
 * with a file that differs from what was sent (DESIGN.md, failure model).
 */
import { expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { testStream } from "./helpers/digest.ts";
import { livenessBoundMs, spawnFixture } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { guest, outPath, randomFile, sameBytes } from "./helpers/transfer.ts";

const LEASE_MS = 5000;
const suite = sharedArbiter("stomped", { size: "64MiB", lease: `${LEASE_MS}ms` });

test("a guest stomping on a page of every chunk: no transfer delivers a wrong file as verified", async () => {
  const channel = "stomped";
  const chunkBytes = 4 << 20; // a regular file's ring (run.ts FILE_RING): one chunk holds the whole file
  const stomper = spawnFixture("page-stomper", {
    socket: suite.socket,
    region: suite.region,
    channel,
    fill: 0xa5,
    depth: 2,
    chunkBytes,
    forMs: 40_000,
  });
  const outcomes: string[] = [];
  const bound = livenessBoundMs(LEASE_MS);
  for (let round = 0; round < 12; round++) {
    const input = outPath(suite.paths, `in-${round}`);
    const output = outPath(suite.paths, `out-${round}`);
    const data = await randomFile(input, chunkBytes);
    const receiver = guest(suite.paths, ["recv", "--channel", channel, "--out", output]);
    const sender = guest(suite.paths, ["send", input, "--channel", channel]);
    const [sent, received] = [await sender.exit(bound), await receiver.exit(bound)];
    const kept = existsSync(output) ? new Uint8Array(readFileSync(output)) : undefined;
    const exact = kept !== undefined && sameBytes(kept, data);
    outcomes.push(`${sent}/${received}/${kept === undefined ? "none" : exact ? "exact" : "WRONG"}`);
    rmSync(output, { force: true });
    rmSync(`${output}.partial`, { force: true });
    rmSync(input, { force: true });
  }
  stomper.proc.kill();
  await stomper.proc.exited;
  console.log(outcomes.join(" "));
  // Each transfer either delivered the input bit for bit (both ends 0) or failed at both ends with no file.
  for (const outcome of outcomes) expect(["0/0/exact", "1/1/none"]).toContain(outcome);
});

test("ChannelSender.write in small pieces while a guest stomps on the ring: never a wrong file verified", async () => {
  const chunkBytes = 64 << 10;
  const outcomes: string[] = [];
  for (let round = 0; round < 4; round++) {
    const channel = `stomped-writes-${round}`;
    const output = outPath(suite.paths, `writes-${round}`);
    const bytes = 4 * chunkBytes;
    const stomper = spawnFixture("page-stomper", {
      socket: suite.socket,
      region: suite.region,
      channel,
      fill: 0x5a,
      depth: 8,
      chunkBytes,
      forMs: 15_000,
    });
    const receiver = guest(suite.paths, ["recv", "--channel", channel, "--out", output]);
    // Writes of 1000 bytes: each piece of the digest is put together from 66 of them.
    const writer = spawnFixture("stream-writer", {
      socket: suite.socket,
      region: suite.region,
      channel,
      bytes,
      writes: [1000],
      chunk: chunkBytes,
      seed: round + 1,
      awaitGo: true,
    });
    await stomper.events.next("stomping");
    writer.proc.stdin.write("go\n");
    await writer.proc.stdin.flush();
    const bound = livenessBoundMs(LEASE_MS);
    const [sent, received] = [await writer.exit(bound), await receiver.exit(bound)];
    stomper.proc.kill();
    await stomper.proc.exited;
    const kept = existsSync(output) ? new Uint8Array(readFileSync(output)) : undefined;
    const exact = kept !== undefined && sameBytes(kept, testStream(bytes, round + 1));
    outcomes.push(`${sent}/${received}/${kept === undefined ? "none" : exact ? "exact" : "WRONG"}`);
  }
  console.log(outcomes.join(" "));
  for (const outcome of outcomes) expect(["0/0/exact", "1/1/none"]).toContain(outcome);
});
