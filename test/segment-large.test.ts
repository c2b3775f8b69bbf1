/**
 * A segment of more than 4 GiB: Bun makes no view longer than that, so `bytes` (one view of it all) cannot
 * be, and said only "RangeError: Out of memory"; `subarray` went through `bytes` and failed the same way.
 * The region is a sparse file in /dev/shm: only the pages touched here take memory.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { statfsSync } from "node:fs";
import { connect } from "../src/guest/index.ts";
import { expectFailure } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { testUnless } from "./helpers/tools.ts";

const GiB = 2 ** 30;
const MiB = 2 ** 20;
/** 65 blocks of 64 MiB fit after the header and slots: one segment of them all is 4 GiB + 64 MiB. */
const REGION = "4224MiB";
const SEGMENT_BYTES = 4 * GiB + 64 * MiB;

/** The arbiter refuses a region its file system could not hold (tmpfs takes a sparse file of any size). */
function noRoom(): string | undefined {
  const { bavail, bsize } = statfsSync("/dev/shm");
  return bavail * bsize < 5 * GiB
    ? "/dev/shm has less than 5 GiB free for a 4.1 GiB sparse region"
    : undefined;
}
const unavailable = noRoom();

let paths: TestPaths;
let arbiter: ArbiterProcess | undefined;

beforeAll(async () => {
  paths = testPaths("segment-large");
  if (!unavailable) arbiter = await ArbiterProcess.start(paths, { size: REGION, blockSize: "64MiB" });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

testUnless(
  unavailable,
  "a segment over 4 GiB: bytes says why it cannot be one view; subarray views any part of it",
  async () => {
    const client = await connect({ socket: paths.socket, region: paths.region, name: "large" });
    try {
      const segment = await client.alloc(SEGMENT_BYTES);
      expect(segment.byteLength).toBe(SEGMENT_BYTES);
      expectFailure(
        () => segment.bytes,
        "InvalidArgument",
        /view segment .* whole since that is 4362076160 bytes and one view holds at most 4 GiB .*subarray\(start, end\)/,
      );
      // Past the first 4 GiB, counted from the end as Uint8Array.subarray counts.
      const tail = segment.subarray(-4096);
      expect(tail.byteLength).toBe(4096);
      tail[4095] = 0xa5;
      const again = segment.subarray(SEGMENT_BYTES - 1);
      expect(Array.from(again)).toEqual([0xa5]);
      expect(segment.subarray(0, 4096).byteLength).toBe(4096);
      expect(segment.subarray(10, 5).byteLength).toBe(0);
      expect(segment.subarray(10, 10).byteLength).toBe(0); // Bun makes no view of 0 bytes over memory
      expectFailure(
        () => segment.subarray(0, 4 * GiB + 1),
        "InvalidArgument",
        /from byte 0 to 4294967297 since that is 4294967297 bytes/,
      );
      await segment.free();
    } finally {
      await client.close();
    }
  },
  60_000,
);

testUnless(
  unavailable,
  "a subarray of a large segment kept past free() is detached when its blocks come back; dropped ones are forgotten",
  async () => {
    const client = await connect({ socket: paths.socket, region: paths.region, name: "large-views" });
    try {
      const segment = await client.alloc(SEGMENT_BYTES);
      // One buffer per subarray() call is remembered, for free() to hand on: those the program dropped go.
      for (let round = 0; round < 20; round++) {
        for (let view = 0; view < 1000; view++) segment.subarray(view * 4096, (view + 1) * 4096)[0] = 1;
        await Bun.sleep(0);
        Bun.gc(true);
      }
      const remembered = (segment as unknown as { buffers: unknown[] }).buffers.length;
      expect(remembered).toBeLessThan(10_000);
      const kept = segment.subarray(-4096);
      await segment.free();
      const again = await client.alloc(SEGMENT_BYTES); // the same blocks: the whole region
      expect(again.offset).toBe(segment.offset);
      expect(kept.byteLength).toBe(0);
      await again.free();
    } finally {
      await client.close();
    }
  },
  60_000,
);
