/**
 * What src/guest/probe.ts's measurement says and leaves behind (mutation round 20): measured once per
 * process and kept for the boot; the mapping chosen is the one that copies fastest, the slowdown is the
 * chosen one's worse direction against anonymous memory and `slow` follows it; no descriptor or mapping
 * of the device's files is left.
 */
import { afterAll, expect, test } from "bun:test";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { type AccessSpeed, type MappingProbe, probeDevice } from "../src/guest/probe.ts";
import { readCachedProbe } from "../src/guest/probe-cache.ts";
import { LAYOUT_MAGIC } from "../src/region/layout.ts";
import { FAKE_PCI_ADDRESS } from "./helpers/backends.ts";

const dir = mkdtempSync("/dev/shm/ivsh-probe-verdict-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A device whose BAR 2 files hold an ivsh magic (the probe measures only a formatted region). */
function device(label: string) {
  const files = join(dir, label);
  mkdirSync(files);
  const bar = (name: string) => {
    const path = join(files, name);
    const bytes = new Uint8Array(1 << 20);
    new DataView(bytes.buffer).setUint32(0, LAYOUT_MAGIC, true);
    writeFileSync(path, bytes);
    return path;
  };
  return {
    address: FAKE_PCI_ADDRESS,
    resource2: bar("resource2"),
    resource2Wc: bar("resource2_wc"),
    size: 1 << 20,
  };
}

test("a device is measured once per process, and its verdict kept in the cache directory given", () => {
  const measured = device("once");
  const cache = join(dir, "cache");
  mkdirSync(cache);
  const probe = probeDevice(measured, cache)!;
  expect(probe.reused).toBe(false);
  expect(probeDevice(measured, cache)).toBe(probe);
  expect(probeDevice(measured)).toBe(probe);
  expect(readCachedProbe<MappingProbe>(cache, measured)).toEqual({ ...probe, reused: true });
});

const copyCost = (speed: AccessSpeed) => 1 / speed.writeBytesPerSecond + 1 / speed.readBytesPerSecond;

test("the chosen mapping copies fastest; the slowdown is its worse direction; slow means at least 4 times", () => {
  const probe = probeDevice(device("verdict"))!;
  for (const speed of [...probe.measured, probe.anonymous]) {
    expect(speed.writeBytesPerSecond).toBeGreaterThan(0);
    expect(speed.readBytesPerSecond).toBeGreaterThan(0);
    expect(Number.isFinite(copyCost(speed))).toBe(true);
  }
  expect(probe.measured.map((speed) => speed.resource)).toEqual(["resource2", "resource2_wc"]);
  for (const other of probe.measured) expect(copyCost(probe.chosen)).toBeLessThanOrEqual(copyCost(other));
  const { anonymous, chosen } = probe;
  expect(probe.slowdown).toBe(
    Math.max(
      anonymous.writeBytesPerSecond / chosen.writeBytesPerSecond,
      anonymous.readBytesPerSecond / chosen.readBytesPerSecond,
    ),
  );
  expect(probe.slow).toBe(probe.slowdown >= 4);
});

test("the probe leaves no descriptor open on the device's files, and neither mapped", () => {
  const measured = device("released");
  probeDevice(measured);
  const files = [measured.resource2, measured.resource2Wc];
  const open = readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return files.includes(readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      return false;
    }
  });
  expect(open).toEqual([]);
  const maps = readFileSync("/proc/self/maps", "utf8").split("\n");
  expect(maps.filter((line) => files.some((file) => line.endsWith(` ${file}`)))).toEqual([]);
});
