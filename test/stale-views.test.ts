/**
 * A freed segment's views and the grants that follow in the same client (src/guest/segment.ts StaleViews),
 * with an arbiter of its own: the cases depend on where its allocator puts each segment.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import { isIvshError } from "../src/errors.ts";
import { SystemCallError } from "../src/ffi/index.ts";
import { connect, type Segment } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, eventually, spawnFixture } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("stale-views");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

/** Whether process `pid` is stopped (state T in /proc/PID/stat). */
function stopped(pid: number): boolean {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).startsWith("T");
}

test("a pinned view of a freed segment does not end the process when a grant of part of its blocks is answered in the same read as the free", async () => {
  const fifo = join(paths.dir, "pinned.fifo");
  expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
  const name = "regranted-with-free";
  const config = { action: "freed-with-regrant-pinned", fifo, name };
  const child = spawnFixture("toucher", clientConfig(paths, config));
  const watcher = await connect({ socket: paths.socket, region: paths.region, name: "watcher" });
  try {
    // Both answers sent while the child is stopped: it reads them together once continued.
    await eventually(async () => stopped(child.proc.pid), 20_000, "the child stopping itself");
    await eventually(
      async () => {
        try {
          await (await watcher.open(name, "read")).free();
          return true;
        } catch (error) {
          if (isIvshError(error, "NotFound")) return false;
          throw error;
        }
      },
      20_000,
      "the child's grant",
    );
    child.proc.kill("SIGCONT");
    // Granted the block below and the freed run's first: the pinned view's copy read the run's other 3.
    const { below, old, ...granted } = await child.events.next("granted");
    expect(granted).toEqual({ event: "granted", offset: below, read: 7 });
    expect(old).toBe((below as number) + 65536);
    expect(await child.exit()).toBe(0);
  } finally {
    child.proc.kill("SIGCONT");
    await watcher.close();
  }
});

test("a freed segment's views are detached even when the rest of its run cannot be made to read as zeros (mmap fails)", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region, name: "zeros-fail" });
  try {
    const old = await client.alloc({ blocks: 4 });
    const kept = old.bytes;
    await old.free();
    // The run's 3 other blocks are made readable for a pinned view's copy: that mmap fails, as at
    // vm.max_map_count (ENOMEM).
    const zeros = client.region.zeros;
    client.region.zeros = () => {
      throw new SystemCallError("mmap", "zeros (test)", constants.errno.ENOMEM);
    };
    const again = await client.alloc({ blocks: 1 }).finally(() => {
      client.region.zeros = zeros;
    });
    expect(again.offset).toBe(old.offset);
    again.bytes[0] = 42;
    kept[0] = 99; // through the freed segment's view: must not land in the segment granted since
    expect([kept.length, again.bytes[0]]).toEqual([0, 42]);
    await again.free();
  } finally {
    await client.close();
  }
});

/** A segment's buffer (ArrayBuffer, not SharedArrayBuffer, as Bun's views over memory are). */
const bufferOf = (segment: Segment) => segment.bytes.buffer as ArrayBuffer;

/** Keeps the buffer it is sent; answers "read" with its length and first byte (read only once asked). */
const KEEPER = `self.onmessage = (event) => {
  if (event.data instanceof ArrayBuffer) self.kept = event.data;
  else { const view = new Uint8Array(self.kept); postMessage([view.length, view[0]]); }
};`;

test("a buffer moved out of a segment's view before free() (transfer(), structuredClone, postMessage to a Worker) is not detached: it reaches the next grant there, as the README says", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region, name: "moved" });
  const worker = new Worker(URL.createObjectURL(new Blob([KEEPER], { type: "application/javascript" })));
  try {
    const [first, second, third] = [
      await client.alloc({ blocks: 1 }),
      await client.alloc({ blocks: 1 }),
      await client.alloc({ blocks: 1 }),
    ];
    // Side by side, so that the grant below covers all three: a moved buffer it left out would fault.
    const { blockSize } = client.geometry;
    expect([second.offset, third.offset]).toEqual([first.offset + blockSize, first.offset + 2 * blockSize]);
    // Each moves the memory to a new buffer and detaches the one the segment handed out (and knows).
    const [secondBuffer, toWorker] = [bufferOf(second), bufferOf(third)];
    const movedHere = [
      bufferOf(first).transfer(),
      structuredClone(secondBuffer, { transfer: [secondBuffer] }),
    ];
    worker.postMessage(toWorker, [toWorker]);
    expect([first.bytes.length, second.bytes.length, toWorker.byteLength]).toEqual([0, 0, 0]);
    for (const segment of [first, second, third]) await segment.free();
    const again = await client.alloc({ blocks: 3 });
    expect(again.offset).toBe(first.offset);
    again.bytes.fill(42);
    // Not touched before: reserved until the grant, they would have ended this process (SIGSEGV).
    const seen = movedHere.map((buffer) => [buffer.byteLength, new Uint8Array(buffer)[0]]);
    const answer = new Promise<unknown>((resolve) => {
      worker.onmessage = (event) => resolve(event.data);
    });
    worker.postMessage("read");
    const length = first.byteLength;
    expect([...seen, await answer]).toEqual([
      [length, 42],
      [length, 42],
      [length, 42],
    ]);
    await again.free();
  } finally {
    worker.terminate();
    await client.close();
  }
});

test("a freed segment's view is not detached by a grant of only the block beside it: it still faults, as a view kept past free() does", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region, name: "beside" });
  try {
    const [below, old, above] = [
      await client.alloc({ blocks: 1 }),
      await client.alloc({ blocks: 1 }),
      await client.alloc({ blocks: 1 }),
    ];
    const kept = old.bytes;
    await old.free();
    await below.free();
    // The lowest free block, just below the freed one: the grant ends where the freed run starts.
    const again = await client.alloc({ blocks: 1 });
    expect(again.offset).toBe(below.offset);
    expect(old.offset).toBe(below.offset + client.geometry.blockSize);
    // Detached, it would read as empty instead of faulting as a view kept past free() does until then.
    expect(kept.byteLength).toBe(old.byteLength);
    await Promise.all([again.free(), above.free()]);
  } finally {
    await client.close();
  }
});

/** A WeakRef to a buffer no one holds: a view the program made and dropped, once collected. */
const droppedBuffer = () => new WeakRef(new ArrayBuffer(8));

test("a freed segment with one of its views dropped is remembered while another is kept: many frees later, that one is detached when its blocks come back", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region, name: "pruned" });
  try {
    const old = await client.alloc({ blocks: 1 });
    const others = [];
    for (let i = 0; i < 70; i++) others.push(await client.alloc({ blocks: 1 }));
    const kept = old.bytes;
    // A second view, since dropped (a large segment's subarray() makes one buffer per call).
    (old as unknown as { buffers: WeakRef<ArrayBufferLike>[] }).buffers.push(droppedBuffer());
    await old.free();
    await Bun.sleep(0);
    Bun.gc(true);
    // Enough frees, each with a view, that the list of freed views forgets those the program dropped.
    const views = others.map((segment) => segment.bytes);
    for (const segment of others) await segment.free();
    // Granted one block at a time until its block is (wherever the allocator puts each).
    const taken: Segment[] = [];
    while (!taken.some((segment) => segment.offset === old.offset) && taken.length <= others.length)
      taken.push(await client.alloc({ blocks: 1 }));
    expect(taken.at(-1)?.offset).toBe(old.offset);
    expect([kept.byteLength, views.length]).toEqual([0, 70]);
    for (const segment of taken) await segment.free();
  } finally {
    await client.close();
  }
});

test("a grant whose blocks cannot be mapped in is given back, not held unusable", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region, name: "unmappable" });
  try {
    const expose = client.region.expose;
    client.region.expose = () => {
      throw new SystemCallError("mmap", "expose (test)", constants.errno.ENOMEM);
    };
    const refused = await client.alloc({ blocks: 1 }, { name: "unmappable" }).then(
      () => "granted",
      (error: unknown) => (error instanceof SystemCallError ? error.errno : error),
    );
    client.region.expose = expose;
    expect(refused).toBe(constants.errno.ENOMEM);
    // Given back: the name is free again (held, the arbiter refused it as taken).
    const again = await client.alloc({ blocks: 1 }, { name: "unmappable" });
    await again.free();
  } finally {
    await client.close();
  }
});
