/**
 * close() says goodbye, and the arbiter gives back, at the goodbye's arrival, every segment the client was
 * the last to hold: another client may be granted those blocks at once. The closing client's own views of
 * them must be withdrawn before the goodbye leaves, as free() withdraws a segment's before it asks: a task
 * of the program still writing a segment while close() ran wrote into the fresh segment of another process
 * (which reads as zeros when granted) for as long as the goodbye's answer took to arrive.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect, isIvshError, type Segment } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, spawnFixture } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("goodbye-grants");
  arbiter = await ArbiterProcess.start(paths, { size: "1MiB", blockSize: "64KiB" });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("a segment written while its client's close() says goodbye: the next holder's blocks stay zero", async () => {
  const taker = await connect({ socket: paths.socket, region: paths.region, name: "taker" });
  const writer = spawnFixture("goodbye-writer", clientConfig(paths));
  try {
    const { blocks } = await writer.events.next("holding");
    expect(blocks).toBe(taker.geometry.blockCount);
    const count = Number(blocks);
    writer.proc.stdin.write("close\n");
    writer.proc.stdin.flush();
    // Every block is the writer's: the first alloc that succeeds is granted its blocks, just released.
    let segment: Segment | undefined;
    const deadline = performance.now() + 20_000;
    while (!segment && performance.now() < deadline)
      segment = await taker.alloc({ blocks: count }).catch((error: unknown) => {
        if (!isIvshError(error, "NoSpace")) throw error;
        return undefined;
      });
    expect(segment).toBeDefined();
    const closed = await writer.events.next("closed");
    expect(await writer.exit()).toBe(0);
    const written = segment!.bytes.findIndex((byte) => byte !== 0);
    expect({ written, closed }).toMatchObject({ written: -1 });
    await segment!.free();
  } finally {
    writer.proc.kill("SIGKILL");
    await taker.close();
  }
}, 60_000);
