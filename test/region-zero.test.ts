/**
 * Zeroing a fresh segment: pages in memory are written, holes are punched (kept holes), small ranges are
 * written; whatever the mix, the range reads as zeros and nothing around it changes.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { createOrOpenRegionFile } from "../src/region/mapping.ts";

const dir = mkdtempSync("/dev/shm/ivsh-zero-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MiB = 1024 * 1024;

function allocatedBytes(path: string): number {
  return statSync(path).blocks * 512;
}

for (const [label, offset, length, touched] of [
  ["a small range of pages in memory (written)", 100, 5000, "all"],
  ["a large unaligned range of pages in memory (written)", 4096 + 123, 3 * MiB + 77, "all"],
  ["a large range never touched (holes stay holes)", 8192, 4 * MiB, "edges"],
  ["a large range half in memory, half holes", 4096 + 5, 4 * MiB, "first half"],
] as const)
  test(`zero(): ${label} reads as zeros, and nothing around it changes`, () => {
    const path = join(dir, `region-${offset}-${length}-${touched.replace(/\W/g, "")}`);
    const { region } = createOrOpenRegionFile(path, 8 * MiB);
    try {
      const all = region.bytes(0, region.size);
      const dirty = (from: number, to: number) => all.subarray(from, to).fill(0xa5);
      if (touched === "all") dirty(0, region.size);
      else {
        dirty(0, offset);
        dirty(offset + length, region.size);
        if (touched === "first half") dirty(offset, offset + length / 2);
      }
      const before = allocatedBytes(path);
      region.zero(offset, length);
      // Checked before reading the range back: a read of a hole in a tmpfs file allocates the page.
      expect(allocatedBytes(path)).toBeLessThanOrEqual(before + 2 * 4096);
      expect(all.subarray(offset, offset + length).every((byte) => byte === 0)).toBe(true);
      expect(all[offset - 1]).toBe(0xa5);
      expect(all[offset + length]).toBe(0xa5);
    } finally {
      region.close();
    }
  });

test("zero(): a range across the 1 GiB boundary of the views it writes through", () => {
  // A sparse 1.5 GiB file: only the pages written here take memory.
  const path = join(dir, "region-window");
  const { region } = createOrOpenRegionFile(path, 1.5 * 1024 * MiB);
  try {
    const boundary = 1024 * MiB;
    const [offset, length] = [boundary - 3000, 7000];
    const around = region.bytes(offset - 16, length + 32);
    around.fill(0xa5);
    region.zero(offset, length);
    expect(around.subarray(16, 16 + length).every((byte) => byte === 0)).toBe(true);
    expect([around[15], around[16 + length]]).toEqual([0xa5, 0xa5]);
  } finally {
    region.close();
  }
});

test("zero() after close is refused with an error, not a crash", () => {
  const { region } = createOrOpenRegionFile(join(dir, "region-closed"), MiB);
  region.zero(0, 4096);
  region.close();
  expect(() => region.zero(0, 4096)).toThrow(/is closed/);
});

test("a range of negative length is refused with an error naming it, not mapped or zeroed", () => {
  const { region } = createOrOpenRegionFile(join(dir, "region-negative"), MiB);
  try {
    for (const use of [() => region.bytes(8192, -4096), () => region.zero(8192, -4096)])
      expect(use).toThrow("Failed to address 8192+-4096 since it lies outside the 1048576-byte region");
  } finally {
    region.close();
  }
});
