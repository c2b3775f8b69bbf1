/** Zeroing a fresh segment: large ranges are punched out of the region file, small ones written. */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { createOrOpenRegionFile } from "../src/region/mapping.ts";

const dir = mkdtempSync("/dev/shm/ivsh-zero-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function allocatedBytes(path: string): number {
  return statSync(path).blocks * 512;
}

for (const [label, offset, length] of [
  ["a small range (written)", 100, 5000],
  ["a large unaligned range (punched, edges written)", 4096 + 123, 3 * 1024 * 1024 + 77],
  ["a large aligned range (punched)", 8192, 4 * 1024 * 1024],
] as const)
  test(`zero(): ${label} reads as zeros, and nothing around it changes`, () => {
    const path = join(dir, `region-${offset}-${length}`);
    const { region } = createOrOpenRegionFile(path, 8 * 1024 * 1024);
    try {
      const all = region.bytes(0, region.size);
      all.fill(0xa5);
      const before = allocatedBytes(path);
      region.zero(offset, length);
      // Punched pages went back to tmpfs; written ones stay allocated. (Checked before reading them back:
      // a read of a hole in a tmpfs file allocates the page again.)
      if (length >= 1 << 20) expect(allocatedBytes(path)).toBeLessThan(before - (length - 8192));
      else expect(allocatedBytes(path)).toBe(before);
      expect(all.subarray(offset, offset + length).every((byte) => byte === 0)).toBe(true);
      expect(all[offset - 1]).toBe(0xa5);
      expect(all[offset + length]).toBe(0xa5);
    } finally {
      region.close();
    }
  });
