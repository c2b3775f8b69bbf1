/**
 * Segment ids are u32 on the wire (docs/protocol.md section 5) and the arbiter numbers segments 1, 2, 3, ...
 * for its whole life, across restarts (the state journal keeps the next one). A busy arbiter allocates
 * 2^32 segments in a day or two (every transfer's ring, every alloc/free pair), and then each alloc was
 * made and journaled, but its reply could not be encoded ("Failed to encode field 'segmentId' since
 * 4294967296 is outside 0..4294967295"): the client was told it failed while the arbiter kept the segment,
 * its blocks and its quota, and no alloc ever succeeded again. The arbiter is started here on a journal
 * whose next segment id is the last u32, as one that has run that long.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { connect } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("segment-id-wrap");
  // A first start makes the region and its journal; the journal's begin record is then moved on.
  arbiter = await ArbiterProcess.start(paths);
  await arbiter.stop();
  const [first, ...rest] = readFileSync(paths.state, "utf8").split("\n");
  const begin = { ...JSON.parse(first!), nextSegmentId: 0xffffffff };
  writeFileSync(paths.state, [JSON.stringify(begin), ...rest].join("\n"));
  await arbiter.restart();
});

afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("allocs go on past segment id 2^32 - 1: ids wrap to ones not in use, each segment gets its own", async () => {
  const client = await connect(clientConfig(paths, { name: "many" }));
  const last = await client.alloc(65536, { name: "last" });
  expect(last.id).toBe(0xffffffff);
  const after = [];
  for (let i = 0; i < 3; i++) after.push(await client.alloc(65536, { name: `after-${i}` }));
  const ids = [last, ...after].map((segment) => segment.id);
  expect(new Set(ids).size).toBe(4);
  for (const id of ids) expect(id).toBeGreaterThan(0);
  const status = (await fetchStatus({ unix: paths.socket })).report;
  expect(status.segments.map((s) => s.name).sort()).toEqual(["after-0", "after-1", "after-2", "last"]);
  expect(status.blocks.used).toBe(4);
  await after[0]!.free();
  await last.free();
  // Ids freed after the wrap are taken again, and one still in use never is.
  const more = [];
  for (let i = 0; i < 3; i++) more.push(await client.alloc(65536));
  const live = [...after.slice(1), ...more].map((segment) => segment.id);
  expect(new Set(live).size).toBe(5);
  await client.close();
  // The restarted arbiter resumes numbering where the journal says, still without a collision.
  await arbiter.kill9();
  await arbiter.restart();
  const again = await connect(clientConfig(paths, { name: "again" }));
  const kept = await again.alloc(65536, { name: "kept" });
  const next = await again.alloc(65536);
  expect(kept.id).not.toBe(next.id);
  expect((await fetchStatus({ unix: paths.socket })).report.blocks.used).toBe(2);
  await again.close();
});

test("a restart after the wrap resumes numbering after the last id handed out, not from 1 again (an id just freed is not handed out again at once)", async () => {
  const client = await connect(clientConfig(paths, { name: "before-restart" }));
  const first = await client.alloc(65536);
  const second = await client.alloc(65536);
  await second.free();
  await first.free();
  await client.close();
  // Replayed, the journal's ids from before the wrap (up to 2^32 - 1) kept the next id past them.
  await arbiter.kill9();
  await arbiter.restart();
  const again = await connect(clientConfig(paths, { name: "after-restart" }));
  const next = await again.alloc(65536);
  expect(next.id).toBe(second.id + 1);
  await again.close();
});
