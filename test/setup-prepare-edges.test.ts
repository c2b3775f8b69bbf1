/**
 * An arbiter's start on the region and its state (src/host/prepareRegion, src/host/setup.ts) at the edges
 * its CLI tests pass by: a state naming a region gone, a region reached through a symbolic link, an
 * all-zero file that was never a region, and a refusal after the region was mapped. Run in this process:
 * what the start leaves mapped or open is read from /proc/self.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import {
  existsSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { STATE_FORMAT } from "../src/host/records.ts";
import { prepareRegion, type RegionOptions } from "../src/host/setup.ts";
import { computeGeometry, SLOT_BYTES } from "../src/region/layout.ts";
import { expectFailure } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("setup-edges");
});
afterAll(() => paths?.cleanup());

const MiB = 1 << 20;

function options(name: string, extra: Partial<RegionOptions> = {}): RegionOptions {
  return {
    regionPath: join(paths.shmDir, `${name}.region`),
    regionSize: MiB,
    blockSize: 65536,
    slotCount: 16,
    statePath: join(paths.dir, `${name}.state`),
    ...extra,
  };
}

/** A state journal holding only its 'begin' record, for `region` of `flags`' geometry. */
function writeState(statePath: string, region: string, flags: RegionOptions): void {
  const geometry = computeGeometry(flags.regionSize, flags.blockSize, flags.slotCount);
  const begin = {
    t: "begin",
    format: STATE_FORMAT,
    region,
    geometry,
    epoch: 3,
    nextClientId: 1,
    nextSegmentId: 1,
  };
  writeFileSync(statePath, `${JSON.stringify(begin)}\n`);
}

/** A region formatted by a start without state, closed again. */
function formatted(flags: RegionOptions): void {
  prepareRegion(flags).region.close();
}

/** Whether this process has `path` open or mapped. */
function held(path: string): boolean {
  const open = readdirSync("/proc/self/fd").some((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false;
    }
  });
  return open || readFileSync("/proc/self/maps", "utf8").includes(path);
}

test("a state whose region is gone is refused for a region that does not exist either: no region is made", () => {
  const flags = options("gone-too");
  const gone = join(paths.shmDir, "gone.region");
  writeState(flags.statePath, gone, flags);
  expectFailure(() => prepareRegion(flags), "StateInvalid", /it belongs to the region .*gone\.region/);
  expect(existsSync(flags.regionPath)).toBe(false);
});

test("a region reached through a symbolic link resumes the state that names it by its own path", () => {
  const flags = options("linked");
  formatted(flags);
  writeState(flags.statePath, flags.regionPath, flags);
  const link = join(paths.shmDir, "link.region");
  symlinkSync(flags.regionPath, link);
  const prepared = prepareRegion({ ...flags, regionPath: link });
  try {
    expect(prepared.records.map((record) => record.t)).toEqual(["begin"]);
    expect(prepared.epoch).toBe(4);
  } finally {
    prepared.region.close();
  }
});

test("an all-zero file (as truncate makes it) is formatted without a note that allocations were discarded", () => {
  const flags = options("zeros");
  writeFileSync(flags.regionPath, "");
  truncateSync(flags.regionPath, MiB);
  const prepared = prepareRegion(flags);
  try {
    expect(prepared.notes.filter((note) => note.includes("discarded"))).toEqual([]);
    expect(prepared.epoch).toBe(1);
  } finally {
    prepared.region.close();
  }
});

test("a start refused after it mapped the region (another geometry) leaves it neither mapped nor open", () => {
  const flags = options("other-geometry");
  formatted(flags);
  writeState(flags.statePath, flags.regionPath, flags);
  expect(held(flags.regionPath)).toBe(false);
  for (let attempt = 0; attempt < 3; attempt++)
    expectFailure(
      () => prepareRegion({ ...flags, blockSize: 4096 }),
      "StateInvalid",
      /it describes a region of --size 1MiB --block-size 64KiB/,
    );
  expect(held(flags.regionPath)).toBe(false);
});

test("a region re-formatted without its state has every slot zeroed, the last one too", () => {
  const flags = options("reformatted");
  formatted(flags);
  const geometry = computeGeometry(flags.regionSize, flags.blockSize, flags.slotCount);
  const slots = [geometry.slotOffset, geometry.slotOffset + geometry.slotCount * SLOT_BYTES] as const;
  // A previous arbiter's slot words, the last slot's among them (its state since removed).
  const bytes = readFileSync(flags.regionPath);
  bytes.fill(0xa5, slots[0], slots[1]);
  writeFileSync(flags.regionPath, bytes);
  const prepared = prepareRegion(flags);
  try {
    expect(prepared.notes.some((note) => note.includes("its allocations are discarded"))).toBe(true);
    const after = readFileSync(flags.regionPath).subarray(...slots);
    expect(after.findIndex((byte) => byte !== 0)).toBe(-1);
  } finally {
    prepared.region.close();
  }
});
