/**
 * The guest's choice between resource2 and resource2_wc, on a fake sysfs whose two resource files are
 * the host region file (no VM needed). Figures are only checked for being measured, never for speed.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { slowMappingWarning } from "../../src/commands/_mapping.ts";
import { connect } from "../../src/guest/client.ts";
import { mappingProbe } from "../../src/guest/connect-options.ts";
import { findIvshmemDevice } from "../../src/guest/device.ts";
import { type MappingProbe, probeDevice } from "../../src/guest/probe.ts";
import { defaultProbeCacheDirectory, readCachedProbe } from "../../src/guest/probe-cache.ts";
import { Header, PROBE_BYTES } from "../../src/region/layout.ts";
import { fakeSysfs } from "../helpers/backends.ts";
import { type TestPaths, testPaths } from "../helpers/paths.ts";
import { ArbiterProcess } from "../helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let sysfsRoot: string;

beforeAll(async () => {
  paths = testPaths("probe");
  arbiter = await ArbiterProcess.start(paths);
  sysfsRoot = fakeSysfs(join(paths.dir, "sysfs"), paths.region);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("both mappings are measured, the faster is chosen, and the figures are kept per process", () => {
  const device = findIvshmemDevice(sysfsRoot);
  const probe = probeDevice(device);
  expect(probe.device).toBe(device.address);
  expect(probe.measured.map((speed) => speed.resource)).toEqual(["resource2", "resource2_wc"]);
  for (const speed of [...probe.measured, probe.anonymous]) {
    expect(speed.writeBytesPerSecond).toBeGreaterThan(0);
    expect(speed.readBytesPerSecond).toBeGreaterThan(0);
  }
  const cost = (speed: MappingProbe["chosen"]) =>
    1 / speed.writeBytesPerSecond + 1 / speed.readBytesPerSecond;
  expect(cost(probe.chosen)).toBe(Math.min(...probe.measured.map(cost)));
  expect(probe.slow).toBe(probe.slowdown >= 4);
  expect(probeDevice(device)).toBe(probe);
});

test("the probe writes only the header's scratch area", async () => {
  const before = new Uint8Array(await Bun.file(paths.region).slice(0, Header.probeArea).arrayBuffer());
  probeDevice({ ...findIvshmemDevice(sysfsRoot), resource2: `${paths.region}` });
  const after = new Uint8Array(await Bun.file(paths.region).slice(0, Header.probeArea).arrayBuffer());
  expect(after).toEqual(before);
  expect(Header.probeArea + PROBE_BYTES).toBe(4096);
});

test("connect() in a guest maps the chosen resource and reaches the arbiter", async () => {
  const client = await connect({ sysfsRoot, socket: paths.socket });
  try {
    expect(client.region.source).toBe(mappingProbe({ sysfsRoot })!.chosen.path);
  } finally {
    await client.close();
  }
  const forced = await connect({ sysfsRoot, socket: paths.socket, resource: "resource2" });
  try {
    expect(forced.region.source).toEndWith("/resource2");
  } finally {
    await forced.close();
  }
});

test("no probe on the host, with an explicit region, or with an explicit resource", () => {
  const empty = join(paths.dir, "empty");
  mkdirSync(join(empty, "bus/pci/devices"), { recursive: true });
  expect(mappingProbe({ sysfsRoot: empty })).toBeUndefined();
  expect(mappingProbe({ sysfsRoot, region: paths.region })).toBeUndefined();
  expect(mappingProbe({ sysfsRoot, resource: "resource2_wc" })).toBeUndefined();
});

test("a slow mapping's warning gives the figures and the comparison", () => {
  const slow: MappingProbe = {
    device: "0000:00:04.0",
    chosen: {
      resource: "resource2_wc",
      path: "/sys/bus/pci/devices/0000:00:04.0/resource2_wc",
      writeBytesPerSecond: 900e6,
      readBytesPerSecond: 41e6,
    },
    measured: [
      {
        resource: "resource2",
        path: "/sys/bus/pci/devices/0000:00:04.0/resource2",
        writeBytesPerSecond: 60e6,
        readBytesPerSecond: 40e6,
      },
    ],
    anonymous: { writeBytesPerSecond: 9e9, readBytesPerSecond: 12e9 },
    slowdown: 12e9 / 41e6,
    slow: true,
    probeMs: 12,
    reused: false,
  };
  slow.measured.push(slow.chosen);
  const warning = slowMappingWarning(slow);
  expect(warning).toContain("IVSHMEM device 0000:00:04.0");
  expect(warning).toContain("resource2_wc (the faster mapping) write 900 MB/s, read 41.0 MB/s");
  expect(warning).toContain(
    "293x slower than ordinary memory in this process (write 9.00 GB/s, read 12.00 GB/s)",
  );
  expect(warning).toContain("resource2: write 60.0 MB/s, read 40.0 MB/s");
  expect(warning).toMatch(/uncached/);
});

test("a boot's verdict is kept: the next probe reuses it, and a file that does not describe the device is measured again", () => {
  // A device of its own (its resource2 another name for the region): this process has not probed it yet.
  const cache = join(paths.dir, "probe-cache");
  mkdirSync(cache);
  const device = {
    ...findIvshmemDevice(sysfsRoot),
    resource2: join(cache, "resource2"),
    resource2Wc: undefined,
  };
  symlinkSync(paths.region, device.resource2);
  const first = probeDevice(device, cache);
  const kept = readCachedProbe<MappingProbe>(cache, device);
  expect(first.reused).toBe(false);
  expect(kept?.reused).toBe(true);
  expect(kept?.chosen).toEqual(first.chosen);
  const file = readdirSync(cache).find((name) => name.endsWith(".json"));
  expect(file).toMatch(/^ivsh-probe-[0-9a-f]+-0000_00_04\.0\.json$/);
  const other = { ...device, address: "0000:00:05.0" };
  expect(readCachedProbe(cache, other)).toBeUndefined();
  writeFileSync(
    join(cache, file!),
    JSON.stringify({ ...first, chosen: { ...first.chosen, path: "/elsewhere" } }),
  );
  expect(readCachedProbe(cache, device)).toBeUndefined();
  writeFileSync(join(cache, file!), "{ torn");
  expect(readCachedProbe(cache, device)).toBeUndefined();
});

test("only a real device's verdict is kept by default, and IVSH_PROBE_CACHE=0 keeps none", () => {
  const device = findIvshmemDevice(sysfsRoot);
  expect(defaultProbeCacheDirectory(device)).toBeUndefined();
  const real = { ...device, resource2: "/sys/bus/pci/devices/0000:00:04.0/resource2" };
  expect(defaultProbeCacheDirectory(real)).toBe("/dev/shm");
  process.env.IVSH_PROBE_CACHE = "0";
  try {
    expect(defaultProbeCacheDirectory(real)).toBeUndefined();
  } finally {
    delete process.env.IVSH_PROBE_CACHE;
  }
});
