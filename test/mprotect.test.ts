/**
 * Ungranted memory is inaccessible in every client; a read grant is read-only. Each case that faults is
 * its own process.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { readFileSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { viewOf } from "../src/ffi/index.ts";
import { nativeFaultGuard, nativeStatus } from "../src/ffi/native.ts";
import { type Client, connect, type Segment } from "../src/guest/index.ts";
import { blockOffset, type Geometry, PAGE_SIZE } from "../src/region/layout.ts";
import { mapRegionHeader } from "../src/region/mapping.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, eventually, type Spawned, spawnFixture } from "./helpers/processes.ts";
import { testUnless } from "./helpers/tools.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let owner: Client;
let readable: Segment;

beforeAll(async () => {
  paths = testPaths("mprotect");
  arbiter = await ArbiterProcess.start(paths);
  owner = await connect({ socket: paths.socket, region: paths.region, name: "owner" });
  readable = await owner.alloc(65536, { name: "readable" });
  readable.bytes[0] = 17;
});
beforeEach(() => arbiter.revive());
afterAll(async () => {
  await owner?.close();
  await arbiter?.stop();
  paths?.cleanup();
});

describe("mprotect", () => {
  test("a child reading a block it holds no grant for dies of SIGSEGV", async () => {
    const child = spawnFixture("toucher", clientConfig(paths, { action: "ungranted", block: 0 }));
    await child.events.next("touching");
    await child.exit();
    expect(child.proc.signalCode).toBe("SIGSEGV");
    expect(child.events.lines.some((line) => line.includes('"read"'))).toBe(false);
  });

  test("a child writing into a segment it opened read-only dies of SIGSEGV (after reading it fine)", async () => {
    const child = spawnFixture(
      "toucher",
      clientConfig(paths, { action: "write-read-grant", segment: "readable" }),
    );
    expect((await child.events.next("touching")).first).toBe(17);
    await child.exit();
    expect(child.proc.signalCode).toBe("SIGSEGV");
    expect(child.events.lines.some((line) => line.includes('"wrote"'))).toBe(false);
  });

  const noGuard = nativeFaultGuard()
    ? undefined
    : `the native helper that explains such faults is not loaded here (${nativeStatus().detail})`;

  testUnless(
    noGuard,
    "the fault is explained: which region, which offset, what to do; Bun is not blamed",
    async () => {
      const block = 1;
      const child = spawnFixture("toucher", clientConfig(paths, { action: "ungranted", block }));
      await child.exit();
      expect(child.proc.signalCode).toBe("SIGSEGV");
      const stderr = await child.stderr;
      const offset = blockOffset(owner.geometry, block);
      expect(stderr).toContain(
        `ivsh: this process touched shared memory it holds no grant for: offset 0x${offset.toString(16)} of the region ${paths.region}`,
      );
      expect(stderr).toContain("access only the bytes of a Segment you hold");
      expect(stderr).not.toContain("Bun has crashed");
    },
  );

  testUnless(
    noGuard,
    "a write to a block it holds no grant for is not taken for a read grant's",
    async () => {
      const child = spawnFixture(
        "toucher",
        clientConfig(paths, { action: "ungranted", block: 1, write: true }),
      );
      await child.exit();
      expect(child.proc.signalCode).toBe("SIGSEGV");
      const stderr = await child.stderr;
      expect(stderr).toContain("ivsh: this process touched shared memory it holds no grant for: offset");
      expect(stderr).not.toContain("may only read");
    },
  );

  testUnless(
    noGuard,
    "a view kept past its client's close() faults, explained, instead of crashing the runtime",
    async () => {
      const child = spawnFixture("toucher", clientConfig(paths, { action: "after-close" }));
      await child.events.next("touching");
      await child.exit();
      expect(child.proc.signalCode).toBe("SIGSEGV");
      expect(child.events.lines.some((line) => line.includes('"read"'))).toBe(false);
      const stderr = await child.stderr;
      expect(stderr).toContain("its client closed, or its session lost");
      expect(stderr).not.toContain("Bun has crashed");
    },
  );

  testUnless(
    noGuard,
    "a region file truncated under a client: its next touch dies of SIGBUS, explained, not 'Bun has crashed'",
    async () => {
      // An arbiter of its own: the truncation ends it (it exits when it notices).
      const own = testPaths("mprotect-past-eof");
      const ownArbiter = await ArbiterProcess.start(own, { size: "16MiB" });
      try {
        const child = spawnFixture("toucher", clientConfig(own, { action: "past-eof" }));
        await child.events.next("touching");
        await child.exit();
        expect(child.proc.signalCode).toBe("SIGBUS");
        const stderr = await child.stderr;
        expect(stderr).toContain(`of the region ${own.region} (its file was truncated while in use`);
        expect(stderr).not.toContain("Bun has crashed");
      } finally {
        await ownArbiter.stop();
        own.cleanup();
      }
    },
  );

  // The app trial (33): a reader that wrote was told of five causes; the fault says which it was.
  testUnless(noGuard, "a write through a read grant is explained as that, and what to do", async () => {
    const child = spawnFixture(
      "toucher",
      clientConfig(paths, { action: "write-read-grant", segment: "readable" }),
    );
    await child.exit();
    expect(child.proc.signalCode).toBe("SIGSEGV");
    const stderr = await child.stderr;
    expect(stderr).toContain(
      `ivsh: this process wrote to shared memory it may only read: offset 0x${readable.offset.toString(16)} of the region ${paths.region} (a read grant: its Segment was opened or allocated with mode "read").`,
    );
    expect(stderr).toContain('free() this one and open() the segment again with mode "write"');
    expect(stderr).not.toContain("holds no grant for");
  });

  testUnless(
    noGuard,
    "a fault outside the region is not ivsh's: the handler before ours reports it",
    async () => {
      const child = spawnFixture("toucher", clientConfig(paths, { action: "outside" }));
      await child.exit();
      const stderr = await child.stderr;
      expect(stderr).not.toContain("ivsh: this process touched shared memory");
      expect(stderr).toMatch(/Segmentation fault|crashed/i);
    },
  );

  testUnless(noGuard, "a SIGSEGV sent by kill (no fault, no address) still ends the process", async () => {
    const child = spawnFixture("toucher", clientConfig(paths, { action: "sent-segv" }));
    await child.exit();
    expect(child.events.lines.some((line) => line.includes('"survived"'))).toBe(false);
    expect(await child.stderr).not.toContain("ivsh: this process touched shared memory");
  });

  test("a view kept past free() does not reach another segment granted on its blocks later", async () => {
    const child = spawnFixture("toucher", clientConfig(paths, { action: "freed-regranted" }));
    const { offset } = await child.events.next("freed");
    const other = await owner.alloc(100, { name: "regranted" });
    try {
      other.bytes[0] = 42;
      expect(other.offset).toBe(offset as number); // the arbiter handed out the blocks just freed
      child.proc.stdin.write("regranted\n");
      await child.proc.stdin.flush();
      const wrote = await child.events.next("wrote");
      expect(other.bytes[0]).toBe(42);
      expect(wrote).toMatchObject({ length: 0, read: null }); // detached: empty, no alias of "regranted"
      child.proc.stdin.end();
      expect(await child.exit()).toBe(0);
    } finally {
      await other.free();
    }
  });

  /** A child whose freed 4-block segment an unfinished write into a FIFO holds, once it frees it. */
  async function pinnedChild(partly: boolean) {
    const fifo = join(paths.dir, `pinned-${partly}.fifo`);
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    const bytes = 4 * 65536; // past the FIFO's 64 KiB: the write cannot finish
    const config = { action: "freed-regranted-pinned", fifo, bytes, partly };
    const child = spawnFixture("toucher", clientConfig(paths, config));
    const { offset } = (await child.events.next("freed")) as { offset: number };
    return { child, offset, bytes };
  }

  async function regrant(child: Spawned, name: string): Promise<Record<string, unknown>> {
    child.proc.stdin.write(`${name}\n`);
    await child.proc.stdin.flush();
    // Detaching a buffer Bun pinned copies it: from reserved pages, that was SIGSEGV in open().
    return await child.events.next("opened");
  }

  test("a freed segment's view that an unfinished write holds does not end the process when its blocks come back", async () => {
    const { child, offset, bytes } = await pinnedChild(false);
    const other = await owner.alloc(bytes, { name: "pinned-whole" });
    try {
      expect(other.offset).toBe(offset);
      await regrant(child, "pinned-whole");
      expect(await child.exit()).toBe(0);
    } finally {
      await other.free();
    }
  });

  test("... nor when one of its blocks does: the rest read as zeros only meanwhile, and its grants there stay", async () => {
    const { child, offset, bytes } = await pinnedChild(true);
    const other = await owner.alloc(65536, { name: "pinned-part" });
    try {
      expect(other.offset).toBeGreaterThanOrEqual(offset); // freed blocks are handed out first
      expect(other.offset).toBeLessThan(offset + bytes);
      expect((await regrant(child, "pinned-part")).held).toBe(7);
      await child.events.next("touching");
      await child.exit();
      expect(child.proc.signalCode).toBe("SIGSEGV");
      expect(child.events.lines.some((line) => line.includes('"read"'))).toBe(false);
    } finally {
      await other.free();
    }
  });

  test("every view over a freed segment's buffer is detached when its blocks come back; one made from its address is not", async () => {
    const client = await connect({ socket: paths.socket, region: paths.region, name: "views" });
    try {
      const old = await client.alloc(100);
      const bytes = old.bytes;
      // As the README lists them: bytes, subarray of a subarray, other typed arrays and Buffers over the buffer.
      const views = [
        bytes,
        bytes.subarray(10, 20).subarray(2, 5),
        new Uint32Array(bytes.buffer, 4, 2),
        Buffer.from(bytes.buffer, bytes.byteOffset, 16),
      ];
      const data = new DataView(bytes.buffer, 0, 8);
      const fromAddress = new Uint8Array(viewOf(old.address, 16));
      await old.free();
      Bun.gc(true);
      const again = await client.alloc(100);
      expect(again.offset).toBe(old.offset);
      again.bytes[0] = 42;
      expect(views.map((view) => view.byteLength)).toEqual([0, 0, 0, 0]);
      expect(() => data.getUint8(0)).toThrow(TypeError);
      expect(fromAddress[0]).toBe(42); // the README says so: a view made from the address is not detached
      await again.free();
    } finally {
      await client.close();
    }
  });

  test("after a grant, reading and writing work", async () => {
    const child = spawnFixture("toucher", clientConfig(paths, { action: "granted" }));
    const done = await child.events.next("done");
    expect(done.sum).toBe(done.expected);
    expect(await child.exit()).toBe(0);
  });

  test("of the data area, a client maps from the region file only what it holds", async () => {
    const second = await owner.alloc(8192);
    const gap = await owner.alloc(8192);
    const third = await owner.alloc(8192, { mode: "write" });
    await gap.free();
    expect(dataRangesOf(paths.region, owner.geometry)).toEqual(merged([readable, second, third]));
    const coversGap = ({ offset, end }: { offset: number; end: number }) =>
      offset < gap.offset + gap.capacity && end > gap.offset;
    expect(dataRangesOf(paths.region, owner.geometry).some(coversGap)).toBe(false);
    await second.free();
    await third.free();
    expect(dataRangesOf(paths.region, owner.geometry)).toEqual(merged([readable]));
  });

  test("a client maps the header page first and the slots once it knows them, never the whole file", () => {
    const region = mapRegionHeader(paths.region);
    try {
      const mappedAt = () => fileRangesAt(paths.region, region.base, region.size);
      expect(mappedAt()).toEqual([{ offset: 0, end: PAGE_SIZE }]);
      region.syncWords(owner.geometry);
      expect(mappedAt()).toEqual([{ offset: 0, end: owner.geometry.dataOffset }]);
    } finally {
      region.close();
    }
  });

  test("the dead children's grants came back", async () => {
    // A dead child's session ends when the arbiter reads its connection's close, which a status request
    // can overtake: waited for, not slept on. A liveness bound, nothing tighter.
    const onlyOwner = async () => {
      const status = await owner.status();
      return status.clients.length === 1 && status.blocks.used === 1;
    };
    await eventually(onlyOwner, 30_000, "the dead children's sessions ending").catch(() => {});
    const status = await owner.status();
    expect(status.clients.map((client) => client.name)).toEqual(["owner"]);
    expect(status.blocks.used).toBe(1);
  });
});

/** The ranges `segments` cover, sorted, neighbours merged: what a client holding them has mapped. */
function merged(segments: Segment[]): { offset: number; end: number; perms: string }[] {
  const ranges: { offset: number; end: number; perms: string }[] = [];
  for (const segment of [...segments].sort((a, b) => a.offset - b.offset)) {
    const last = ranges.at(-1);
    const end = segment.offset + segment.capacity;
    if (last && last.end === segment.offset) last.end = end;
    else ranges.push({ offset: segment.offset, end, perms: "rw-s" });
  }
  return ranges;
}

/**
 * This process's mappings of the region file within its blocks, merged where they touch (the kernel
 * itself merges a grant next to the slots' mapping into one).
 */
function dataRangesOf(region: string, geometry: Geometry): { offset: number; end: number; perms: string }[] {
  const file = realpathSync(region);
  const dataEnd = geometry.dataOffset + geometry.blockCount * geometry.blockSize;
  const ranges: { offset: number; end: number; perms: string }[] = [];
  for (const line of readFileSync("/proc/self/maps", "utf8").split("\n")) {
    const [span, perms, offsetHex, , , path] = line.split(/\s+/);
    if (path !== file || !span || !perms || !offsetHex) continue;
    const [start, end] = span.split("-").map((hex) => Number.parseInt(hex, 16)) as [number, number];
    const fileOffset = Number.parseInt(offsetHex, 16);
    const offset = Math.max(fileOffset, geometry.dataOffset);
    const rangeEnd = Math.min(fileOffset + end - start, dataEnd);
    if (offset >= rangeEnd) continue;
    const last = ranges.at(-1);
    if (last && last.end === offset && last.perms === perms) last.end = rangeEnd;
    else ranges.push({ offset, end: rangeEnd, perms });
  }
  return ranges;
}

/** The file offsets of `file` mapped within [base, base + size) of this process, as /proc/self/maps shows them. */
function fileRangesAt(file: string, base: number, size: number): { offset: number; end: number }[] {
  const real = realpathSync(file);
  const ranges: { offset: number; end: number }[] = [];
  for (const line of readFileSync("/proc/self/maps", "utf8").split("\n")) {
    const [span, , offsetHex, , , path] = line.split(/\s+/);
    if (path !== real || !span || !offsetHex) continue;
    const [start, end] = span.split("-").map((hex) => Number.parseInt(hex, 16)) as [number, number];
    if (start < base || end > base + size) continue;
    const offset = Number.parseInt(offsetHex, 16);
    ranges.push({ offset, end: offset + end - start });
  }
  return ranges;
}
