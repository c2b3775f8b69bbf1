/**
 * The guest's choice between resource2 and resource2_wc, on a fake sysfs whose two resource files are
 * the host region file (no VM needed). Figures are only checked for being measured, never for speed.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import {
  chownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { slowMappingWarning } from "../../src/commands/_mapping.ts";
import { connect } from "../../src/guest/connect.ts";
import { mappingProbe } from "../../src/guest/connect-options.ts";
import { findIvshmemDevice } from "../../src/guest/device.ts";
import { type MappingProbe, probeDevice } from "../../src/guest/probe.ts";
import {
  defaultProbeCacheDirectory,
  readCachedProbe,
  writeCachedProbe,
} from "../../src/guest/probe-cache.ts";
import { Header, PROBE_BYTES } from "../../src/region/layout.ts";
import { fakeSysfs } from "../helpers/backends.ts";
import { REPO, type TestPaths, testPaths } from "../helpers/paths.ts";
import { ArbiterProcess, spawnBun } from "../helpers/processes.ts";
import { testUnless } from "../helpers/tools.ts";

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
  const probe = probeDevice(device)!;
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

/** Probes `device` in a process of its own (so nothing is remembered in-process), keeping the verdict in `cache`. */
function probeInChild(device: object, cache: string): { reused: boolean; chosen: string } {
  const script = join(paths.dir, "probe-child.ts");
  const probeModule = join(REPO, "src/guest/probe.ts");
  writeFileSync(
    script,
    `import { probeDevice } from ${JSON.stringify(probeModule)};\n` +
      "const probe = probeDevice(JSON.parse(process.argv[2]), process.argv[3]);\n" +
      "console.log(JSON.stringify({ reused: probe.reused, chosen: probe.chosen.path }));\n",
  );
  const child = Bun.spawnSync([process.execPath, script, JSON.stringify(device), cache]);
  expect(child.exitCode).toBe(0);
  return JSON.parse(child.stdout.toString());
}

/** A device of its own (its resource files other names for the region), and an empty cache directory. */
function cachedDevice(label: string) {
  const cache = join(paths.dir, label);
  mkdirSync(cache);
  const device = {
    ...findIvshmemDevice(sysfsRoot),
    resource2: join(cache, "resource2"),
    resource2Wc: join(cache, "resource2_wc"),
  };
  symlinkSync(paths.region, device.resource2);
  symlinkSync(paths.region, device.resource2Wc);
  return {
    cache,
    device,
    file: () => join(cache, readdirSync(cache).find((name) => name.endsWith(".json"))!),
  };
}

test("a boot's verdict is kept: the next command reuses it instead of measuring", () => {
  const { cache, device, file } = cachedDevice("cache-reuse");
  const first = probeInChild(device, cache);
  const second = probeInChild(device, cache);
  expect(first.reused).toBe(false);
  expect(second).toEqual({ reused: true, chosen: first.chosen });
  expect(file()).toMatch(/\/ivsh-probe-v1-[0-9a-f]+-0000_00_04\.0\.json$/);
  expect(readCachedProbe(cache, { ...device, address: "0000:00:05.0" })).toBeUndefined();
});

test("a kept verdict that does not describe the device whole, or is torn, is measured again", () => {
  const { cache, device, file } = cachedDevice("cache-partial");
  const probe = probeDevice(device, cache)!;
  const kept = JSON.parse(readFileSync(file(), "utf8"));
  const variants = [
    { ...kept, slowdown: undefined }, // a field a reader uses is missing
    { ...kept, measured: kept.measured.slice(0, 1) }, // resource2_wc appeared since: measure both
    { ...kept, chosen: { ...kept.chosen, path: "/elsewhere" } },
    { ...kept, anonymous: { writeBytesPerSecond: -1, readBytesPerSecond: 1 } },
  ];
  for (const variant of variants) {
    writeFileSync(file(), JSON.stringify(variant));
    expect(readCachedProbe(cache, device)).toBeUndefined();
  }
  writeFileSync(file(), "{ torn");
  expect(readCachedProbe(cache, device)).toBeUndefined();
  writeFileSync(file(), JSON.stringify(kept));
  expect(readCachedProbe<MappingProbe>(cache, device)?.chosen).toEqual(probe.chosen);
});

test("a symlink where the verdict belongs is neither followed when read nor written through", () => {
  const { cache, device, file } = cachedDevice("cache-symlink");
  probeDevice(device, cache);
  const path = file();
  // Elsewhere, a verdict that would be trusted if read through the link (and marked, to see it is not overwritten).
  const victim = join(paths.dir, "victim");
  const planted = JSON.stringify({ ...JSON.parse(readFileSync(path, "utf8")), slowdown: 12345 });
  writeFileSync(victim, planted);
  rmSync(path);
  symlinkSync(victim, path);
  expect(readCachedProbe(cache, device)).toBeUndefined();
  writeCachedProbe(cache, device, probeDevice(device)!);
  expect(readFileSync(victim, "utf8")).toBe(planted);
  expect(lstatSync(path).isSymbolicLink()).toBe(false);
  expect(readCachedProbe(cache, device)).toBeDefined();
});

test("a FIFO where the verdict belongs is no verdict: the command measures, it does not wait for a writer", async () => {
  const { cache, device, file } = cachedDevice("cache-fifo");
  probeDevice(device, cache);
  const path = file();
  rmSync(path);
  // Any user may make it in the shared directory (the boot id and the PCI address are no secret).
  expect(Bun.spawnSync(["mkfifo", path]).exitCode).toBe(0);
  const script = join(paths.dir, "probe-fifo-child.ts");
  writeFileSync(
    script,
    `import { probeDevice } from ${JSON.stringify(join(REPO, "src/guest/probe.ts"))};\n` +
      "console.log(JSON.stringify(probeDevice(JSON.parse(process.argv[2]), process.argv[3]).reused));\n",
  );
  const child = spawnBun([script, JSON.stringify(device), cache]);
  // Before, opening the FIFO to read it blocked the process until someone wrote to it: for ever.
  expect(await child.exit()).toBe(0);
  await child.events.finished;
  expect(child.events.text.trim()).toBe("false");
});

testUnless(
  process.getuid?.() === 0 ? undefined : "only root can give a file to another user",
  "a verdict owned by another user is not trusted",
  () => {
    const { cache, device, file } = cachedDevice("cache-owner");
    probeDevice(device, cache);
    chownSync(file(), 65534, 65534);
    expect(readCachedProbe(cache, device)).toBeUndefined();
  },
);

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
