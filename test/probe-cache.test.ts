/**
 * A cached mapping verdict (src/guest/probe-cache.ts) is reused only when it describes this device whole:
 * one measurement per resource file, each named once, and every speed and the slowdown positive. Any
 * other file in the shared directory (torn, planted, from another layout) is measured again instead.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readCachedProbe, writeCachedProbe } from "../src/guest/probe-cache.ts";
import { FAKE_PCI_ADDRESS } from "./helpers/backends.ts";

let dir: string;
let device: { address: string; resource2: string; resource2Wc: string; size: number };

beforeAll(() => {
  dir = mkdtempSync("/dev/shm/ivsh-probe-cache-");
  const resource2 = join(dir, "resource2");
  const resource2Wc = join(dir, "resource2_wc");
  for (const path of [resource2, resource2Wc]) writeFileSync(path, new Uint8Array(4096));
  device = { address: FAKE_PCI_ADDRESS, resource2, resource2Wc, size: 4096 };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const speed = { writeBytesPerSecond: 2e9, readBytesPerSecond: 1e9 };

function verdict(changes: Record<string, unknown> = {}) {
  const uncached = { ...speed, resource: "resource2", path: device.resource2 };
  const combined = { ...speed, resource: "resource2_wc", path: device.resource2Wc };
  return {
    device: device.address,
    chosen: combined,
    measured: [uncached, combined],
    anonymous: speed,
    slowdown: 1.5,
    slow: false,
    reused: false,
    ...changes,
  };
}

/** Whether `probe`, written to the cache, is read back as reusable. */
function reused(probe: ReturnType<typeof verdict>): boolean {
  const cache = mkdtempSync(join(dir, "cache-"));
  writeCachedProbe(cache, device, probe as never);
  return readCachedProbe(cache, device)?.reused === true;
}

test("a whole verdict for this device is reused", () => {
  expect(reused(verdict())).toBe(true);
});

test("a verdict measuring one resource file twice (and the other once or not at all) is not reused", () => {
  const [uncached, combined] = verdict().measured;
  expect(reused(verdict({ measured: [uncached, uncached] }))).toBe(false);
  expect(reused(verdict({ measured: [uncached, uncached, combined] }))).toBe(false);
});

test("a verdict with a slowdown or a speed of 0 is not reused", () => {
  expect(reused(verdict({ slowdown: 0 }))).toBe(false);
  expect(reused(verdict({ anonymous: { ...speed, readBytesPerSecond: 0 } }))).toBe(false);
});
