/**
 * Finding BAR 2 of PCI 1af4:1110 (src/guest/device.ts) at its edges: a BAR that is not prefetchable has no
 * resource2_wc, an address pasted with its line end is still the device's, and a machine whose /sys has no
 * PCI bus (a container) is told there is no device, not that /sys is not where sysfs is mounted.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { findIvshmemDevice, findIvshmemDevices } from "../src/guest/index.ts";
import { FAKE_PCI_ADDRESS, fakeSysfs } from "./helpers/backends.ts";
import { testPaths } from "./helpers/paths.ts";
import { testUnless } from "./helpers/tools.ts";

const paths = testPaths("device-sysfs-edges");
afterAll(() => paths.cleanup());

// connect() maps resource2_wc when there is one: a path to a file that is not there fails the mapping.
test("a device without resource2_wc (BAR not prefetchable) is found with no write-combining file", () => {
  mkdirSync(paths.dir, { recursive: true });
  writeFileSync(paths.region, new Uint8Array(1 << 16));
  const root = fakeSysfs(join(paths.dir, "sysfs-uc"), paths.region);
  unlinkSync(join(root, "bus/pci/devices", FAKE_PCI_ADDRESS, "resource2_wc"));
  const [device] = findIvshmemDevices(root);
  expect(device?.resource2).toEndWith("resource2");
  expect(device?.resource2Wc).toBeUndefined();
});

// `--device "$(lspci -D -d 1af4:1110 | cut -d' ' -f1)"` and friends hand over the address with blanks.
test("an address with surrounding blanks or a line end names the device", () => {
  mkdirSync(paths.dir, { recursive: true });
  writeFileSync(paths.region, new Uint8Array(1 << 16));
  const root = fakeSysfs(join(paths.dir, "sysfs"), paths.region);
  expect(findIvshmemDevice(root, " 00:04.0\n").address).toBe(FAKE_PCI_ADDRESS);
  expect(findIvshmemDevice(root, `${FAKE_PCI_ADDRESS}\n`).address).toBe(FAKE_PCI_ADDRESS);
});

const unshareProbe = Bun.spawnSync(["unshare", "-rm", "sh", "-c", "mount -t tmpfs none /sys/bus"], {
  stderr: "pipe",
});
const noNamespace = Bun.which("unshare")
  ? unshareProbe.exitCode === 0
    ? undefined
    : `unshare -rm cannot mount over /sys/bus here: ${unshareProbe.stderr.toString().trim()}`
  : "unshare is not installed (util-linux)";

// A separate process in its own mount namespace sees an empty /sys/bus: the default root is /sys itself,
// so "pass /sys" would be advice to do what was done.
testUnless(
  noNamespace,
  "with /sys holding no PCI bus, the default root's refusal is the no-device one",
  () => {
    const script = `
    const { findIvshmemDevice } = await import(${JSON.stringify(join(import.meta.dir, "../src/guest/index.ts"))});
    try { findIvshmemDevice(); console.log("found"); } catch (error) { console.log(error.code + ": " + error.message); }`;
    const run = Bun.spawnSync(
      [
        "unshare",
        "-rm",
        "sh",
        "-c",
        'mount -t tmpfs none /sys/bus && exec "$0" -e "$1"',
        process.execPath,
        script,
      ],
      { stderr: "pipe" },
    );
    const out = run.stdout.toString();
    expect(run.exitCode, run.stderr.toString()).toBe(0);
    expect(out).toMatch(
      /^DeviceNotFound: .*no PCI device 1af4:1110 with a resource2 is in \/sys\/bus\/pci\/devices/,
    );
    expect(out).not.toMatch(/not where sysfs is mounted/);
  },
);
