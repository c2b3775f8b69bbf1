/**
 * A cached mapping verdict (src/guest/probe-cache.ts) is reused only when it describes this device whole:
 * one measurement per resource file, each named once, and every speed and the slowdown positive. Any
 * other file in the shared directory (torn, planted, from another layout) is measured again instead.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import {
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { defaultProbeCacheDirectory, readCachedProbe, writeCachedProbe } from "../src/guest/probe-cache.ts";
import { kernelDomain } from "../src/region/mailbox.ts";
import { FAKE_PCI_ADDRESS } from "./helpers/backends.ts";
import { REPO } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, exitOrKill } from "./helpers/processes.ts";

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

// Round 8 of the mutation audit: each check of a kept verdict on its own.

test("a verdict of another device, or choosing a file of neither resource, or a chosen speed of 0, is not reused", () => {
  const { chosen } = verdict();
  expect(reused(verdict({ device: "0000:00:05.0" }))).toBe(false);
  const elsewhere = join(dir, "not-the-device"); // a file this user may open, of no resource of the device
  writeFileSync(elsewhere, new Uint8Array(4096));
  expect(reused(verdict({ chosen: { ...chosen, path: elsewhere } }))).toBe(false);
  expect(reused(verdict({ chosen: { ...chosen, writeBytesPerSecond: 0 } }))).toBe(false);
  expect(reused(verdict({ slow: "no" as never }))).toBe(false);
});

test("a verdict with a speed too large for a number (1e999 in its JSON: Infinity) is not reused", () => {
  const cache = mkdtempSync(join(dir, "cache-"));
  writeCachedProbe(cache, device, verdict());
  const [file] = readdirSync(cache);
  const path = join(cache, file!);
  writeFileSync(path, readFileSync(path, "utf8").replace('"slowdown":1.5', '"slowdown":1e999'));
  expect(readCachedProbe(cache, device)).toBeUndefined();
});

test("a device without resource2_wc: its verdict measuring resource2 alone is reused, one measuring both is not", () => {
  const plain = { ...device, resource2Wc: undefined };
  const [uncached] = verdict().measured;
  const cache = mkdtempSync(join(dir, "cache-"));
  writeCachedProbe(cache, plain as never, verdict({ chosen: uncached, measured: [uncached] }) as never);
  expect(readCachedProbe(cache, plain as never)?.reused).toBe(true);
  writeCachedProbe(cache, plain as never, verdict());
  expect(readCachedProbe(cache, plain as never)).toBeUndefined();
});

test("a kept verdict reached through a symlink, or owned by another user, is not trusted", () => {
  const elsewhere = mkdtempSync(join(dir, "elsewhere-"));
  writeCachedProbe(elsewhere, device, verdict());
  const [file] = readdirSync(elsewhere);
  const cache = mkdtempSync(join(dir, "cache-"));
  symlinkSync(join(elsewhere, file!), join(cache, file!));
  expect(readCachedProbe(cache, device)).toBeUndefined();
  if (process.getuid?.() !== 0) return console.log("not root: the test of another user's file is left out");
  chownSync(join(elsewhere, file!), 65534, 65534);
  expect(readCachedProbe(elsewhere, device)).toBeUndefined();
});

test("IVSH_PROBE_CACHE=0 keeps no verdict, even for a real device", () => {
  const real = { ...device, resource2: "/sys/bus/pci/devices/0000:00:04.0/resource2" };
  const before = process.env.IVSH_PROBE_CACHE;
  try {
    process.env.IVSH_PROBE_CACHE = "0";
    expect(defaultProbeCacheDirectory(real)).toBeUndefined();
  } finally {
    if (before === undefined) delete process.env.IVSH_PROBE_CACHE;
    else process.env.IVSH_PROBE_CACHE = before;
  }
});

test("a verdict that cannot be renamed into place (a directory planted under its name) leaves no partial file", () => {
  const cache = mkdtempSync(join(dir, "cache-"));
  writeCachedProbe(cache, device, verdict());
  const [file] = readdirSync(cache);
  rmSync(join(cache, file!));
  mkdirSync(join(cache, file!, "inside"), { recursive: true });
  writeCachedProbe(cache, device, verdict());
  expect(readdirSync(cache)).toEqual([file!]);
});

test("a device whose resource files are not under /sys (a test's fake sysfs) keeps no verdict; a real one does", () => {
  const before = process.env.IVSH_PROBE_CACHE;
  try {
    delete process.env.IVSH_PROBE_CACHE;
    // Before (any device kept): "/dev/shm", the fake device's measurements kept for the real one's boot.
    expect(defaultProbeCacheDirectory(device)).toBeUndefined();
    // Where the boot can be told apart (kernelDomain), a real device's is kept: the test above is not vacuous.
    const real = { ...device, resource2: "/sys/bus/pci/devices/0000:00:04.0/resource2" };
    expect(defaultProbeCacheDirectory(real)).toBe(kernelDomain() === 0 ? undefined : "/dev/shm");
  } finally {
    if (before !== undefined) process.env.IVSH_PROBE_CACHE = before;
  }
});

test("a verdict measuring files of the right resource names but other paths is not reused", () => {
  const [uncached, combined] = verdict().measured;
  const moved = [
    { ...uncached!, path: join(dir, "elsewhere", "resource2") },
    { ...combined!, path: join(dir, "elsewhere", "resource2_wc") },
  ];
  // Before (a measurement's path unchecked): reused, though it measured other files.
  expect(reused(verdict({ measured: moved }))).toBe(false);
});

test("a FIFO planted under the verdict's name is not waited on: the device is measured", async () => {
  const cache = mkdtempSync(join(dir, "cache-"));
  writeCachedProbe(cache, device, verdict());
  const [file] = readdirSync(cache);
  rmSync(join(cache, file!));
  execFileSync("mkfifo", [join(cache, file!)]);
  // In a process of its own: an open that waits for a writer blocks its whole thread (for ever).
  const script = `import { readCachedProbe } from ${JSON.stringify(join(REPO, "src/guest/probe-cache.ts"))};
    console.log(String(readCachedProbe(${JSON.stringify(cache)}, ${JSON.stringify(device)})));`;
  const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
  // Before (opened without O_NONBLOCK): "late", the open waiting for a writer.
  expect(await exitOrKill(child, EXIT_BOUND_MS)).toBe(0);
  expect((await new Response(child.stdout).text()).trim()).toBe("undefined");
}, 60_000);
