import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_REGION } from "../src/defaults.ts";
import { connect, findIvshmemDevice, findIvshmemDevices, mappingProbe } from "../src/guest/index.ts";
import { FAKE_PCI_ADDRESS, fakeSysfs } from "./helpers/backends.ts";
import { expectFailure, expectRejection } from "./helpers/errors.ts";
import { testPaths } from "./helpers/paths.ts";
import { runCli } from "./helpers/processes.ts";

const paths = testPaths("device");
afterAll(() => paths.cleanup());

describe("IVSHMEM device discovery", () => {
  test("finds 1af4:1110 with its resource2 and resource2_wc, ignoring other virtio devices", () => {
    writeFileSync(paths.region, new Uint8Array(1 << 20));
    const root = fakeSysfs(join(paths.dir, "sysfs"), paths.region);
    const devices = findIvshmemDevices(root);
    expect(devices.map((device) => device.address)).toEqual([FAKE_PCI_ADDRESS]);
    expect(devices[0]!.size).toBe(1 << 20);
    expect(devices[0]!.resource2Wc).toEndWith("resource2_wc");
  });

  // A device is IVSHMEM only if both its vendor and device ids say so, and usable only with a BAR 2.
  test("skips devices of another vendor or device id, and an IVSHMEM device without a resource2", () => {
    const root = join(paths.dir, "sysfs-mixed");
    const devices = join(root, "bus/pci/devices");
    const device = (address: string, vendor: string, id: string, resource2: boolean) => {
      mkdirSync(join(devices, address), { recursive: true });
      writeFileSync(join(devices, address, "vendor"), `${vendor}\n`);
      writeFileSync(join(devices, address, "device"), `${id}\n`);
      if (resource2) writeFileSync(join(devices, address, "resource2"), new Uint8Array(4096));
    };
    device("0000:00:02.0", "0x1af4", "0x1110", false); // no BAR 2 to map
    device("0000:00:03.0", "0x1af4", "0x1000", true); // virtio-net: same vendor
    device("0000:00:04.0", "0x8086", "0x1110", true); // same device id, another vendor
    device("0000:00:05.0", "0x1af4", "0x1110", true);
    device("0000:00:06.0", "0x1AF4", "0x1110", true); // ids read case-blind
    expect(findIvshmemDevices(root).map((found) => found.address)).toEqual(["0000:00:05.0", "0000:00:06.0"]);
    expect(findIvshmemDevice(root).address).toBe("0000:00:05.0");
  });

  test("no device: the error names the vendor:device, where it looked, and the fix", () => {
    const empty = join(paths.dir, "empty");
    mkdirSync(join(empty, "bus/pci/devices"), { recursive: true });
    expectFailure(
      () => findIvshmemDevice(empty),
      "DeviceNotFound",
      /no PCI device 1af4:1110 .* -device ivshmem-plain/,
    );
    expectFailure(
      () => findIvshmemDevice(join(paths.dir, "sysfs"), "0000:00:09.0"),
      "DeviceNotFound",
      /no 1af4:1110 device with that address/,
    );
  });

  // lspci names a device 00:04.0 (domain 0000 left out), and a user passes what lspci shows: it was "not
  // found" with the device right there, and the refusal named no address that would have worked.
  test("a device's address as lspci shows it is found; an address with no device names those there are", () => {
    writeFileSync(paths.region, new Uint8Array(1 << 20));
    const root = fakeSysfs(join(paths.dir, "sysfs"), paths.region);
    expect(findIvshmemDevice(root, "00:04.0").address).toBe(FAKE_PCI_ADDRESS);
    expect(findIvshmemDevice(root, FAKE_PCI_ADDRESS.toUpperCase()).address).toBe(FAKE_PCI_ADDRESS);
    expectFailure(
      () => findIvshmemDevice(root, "00:09.0"),
      "DeviceNotFound",
      /use IVSHMEM device 00:09\.0 since no 1af4:1110 device with that address .*: the IVSHMEM devices there are 0000:00:04\.0$/,
    );
  });

  // `--sysfs-root /sys/bus/pci/devices` (part of the path), or a typo: told to start the VM with an ivshmem
  // device it has, while the device was not looked for where it is.
  test("a sysfs root that is not where sysfs is mounted is said to be so, not taken for a VM without a device", async () => {
    writeFileSync(paths.region, new Uint8Array(1 << 20));
    const devices = join(fakeSysfs(join(paths.dir, "sysfs"), paths.region), "bus/pci/devices");
    const wrong = /holds no bus\/pci\/devices, so it is not where sysfs is mounted: pass \/sys/;
    expectFailure(() => findIvshmemDevice(devices), "DeviceNotFound", wrong);
    // With the device's address too: it was "there is none (lspci -d 1af4:1110 lists them)", which lspci
    // contradicts.
    expectFailure(() => findIvshmemDevice(devices, "00:04.0"), "DeviceNotFound", wrong);
    if (!existsSync(DEFAULT_REGION))
      await expectRejection(connect({ sysfsRoot: devices }), "DeviceNotFound", wrong);
  });

  test("connect with neither device nor region file says so", async () => {
    const promise = connect({ sysfsRoot: join(paths.dir, "empty"), region: join(paths.dir, "missing") });
    await expectRejection(promise, "DeviceNotFound", /missing since it does not exist/);
  });

  test("a region file that no arbiter formatted is refused with the reason", async () => {
    const raw = join(paths.dir, "raw");
    writeFileSync(raw, new Uint8Array(1 << 20));
    await expectRejection(
      connect({ region: raw, socket: join(paths.dir, "none.sock") }),
      "ArbiterUnreachable",
      /arbiter/,
    );
  });

  // The mapping probe wrote to the first page of resource2 before anything looked at its size: a file
  // without a byte (a fake tree's, a copy of one) was SIGBUS, not the refusal connect() gives it.
  test("an empty resource2 is refused, not probed", async () => {
    const root = join(paths.dir, "short-sysfs");
    const device = join(root, "bus/pci/devices", FAKE_PCI_ADDRESS);
    mkdirSync(device, { recursive: true });
    writeFileSync(join(device, "vendor"), "0x1af4\n");
    writeFileSync(join(device, "device"), "0x1110\n");
    writeFileSync(join(device, "resource2"), ""); // a touch of its first page is SIGBUS
    const socket = join(paths.dir, "none.sock");
    const { exitCode, stderr } = await runCli(["guest", "recv", "--sysfs-root", root, "--socket", socket]);
    expect(stderr).toMatch(/resource2 since it is 0 bytes, too small to hold an ivsh region/);
    expect(exitCode).toBe(1);
  }, 60_000);

  // A caller without types, or a typo: any string was taken, and the mapping chosen as if none were given.
  test("a resource other than resource2 or resource2_wc is refused, naming the two", async () => {
    writeFileSync(paths.region, new Uint8Array(1 << 20));
    const sysfsRoot = fakeSysfs(join(paths.dir, "sysfs"), paths.region);
    const socket = join(paths.dir, "none.sock");
    // biome-ignore lint/suspicious/noExplicitAny: a caller without types passes anything
    const resource = "resource2-wc" as any;
    await expectRejection(
      connect({ sysfsRoot, socket, resource }),
      "InvalidArgument",
      /its resource option 'resource2-wc' is not resource2 or resource2_wc/,
    );
    expectFailure(() => mappingProbe({ sysfsRoot, resource }), "InvalidArgument", /'resource2-wc'/);
  });

  // connect() takes IVSH_REGION as an explicit region and measures nothing; mappingProbe() looked at its
  // options alone, so it measured the device (and the CLI-less caller was told of a mapping not in use).
  test("mappingProbe takes IVSH_REGION as connect() does: a region given so is not probed", () => {
    writeFileSync(paths.region, new Uint8Array(1 << 20));
    const sysfsRoot = fakeSysfs(join(paths.dir, "sysfs"), paths.region);
    const before = process.env.IVSH_REGION;
    process.env.IVSH_REGION = paths.region;
    try {
      expect(mappingProbe({ sysfsRoot })).toBeUndefined();
    } finally {
      if (before === undefined) delete process.env.IVSH_REGION;
      else process.env.IVSH_REGION = before;
    }
  });

  // A developer's trial: called as connect() is, with nothing, these threw bare TypeErrors (Node's
  // ERR_INVALID_ARG_TYPE for "paths[0]"; "undefined is not an object (evaluating 'options.region')").
  test("called without arguments they look in /sys (this host: no device) and take connect()'s defaults", () => {
    expect(findIvshmemDevices()).toEqual(findIvshmemDevices("/sys"));
    if (findIvshmemDevices().length === 0)
      expectFailure(() => findIvshmemDevice(), "DeviceNotFound", /in \/sys\/bus/);
    expect(() => mappingProbe()).not.toThrow();
    // biome-ignore lint/suspicious/noExplicitAny: a caller without types passes anything
    const untyped = (value: unknown) => value as any;
    expectFailure(() => findIvshmemDevices(untyped(5)), "InvalidArgument", /its sysfs root 5 is not a path/);
    // An address that is no string was a bare TypeError ("address.trim is not a function").
    expectFailure(
      () => findIvshmemDevice("/sys", untyped(4)),
      "InvalidArgument",
      /its address 4 is not a PCI address/,
    );
    expectFailure(
      () => mappingProbe(untyped(null)),
      "InvalidArgument",
      /probe the mapping since its options null/,
    );
  });
});
