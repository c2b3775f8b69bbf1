/**
 * The ways a client maps the region. Suites that run `forEachBackend` prove the library behaves the
 * same whichever mapping it got: the host's region file, or a guest's PCI BAR 2 found through sysfs
 * (here a fake sysfs tree whose resource2 is the region file, as it is, in effect, under QEMU).
 */
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ConnectOptions } from "../../src/guest/index.ts";
import type { TestPaths } from "./paths.ts";

export const FAKE_PCI_ADDRESS = "0000:00:04.0";

export interface Backend {
  name: string;
  options(paths: TestPaths): ConnectOptions;
}

/** A sysfs tree with one IVSHMEM device whose BAR 2 is `regionPath`, plus an unrelated device. */
export function fakeSysfs(root: string, regionPath: string): string {
  if (existsSync(root)) return root;
  const devices = join(root, "bus/pci/devices");
  const other = join(devices, "0000:00:03.0");
  mkdirSync(other, { recursive: true });
  writeFileSync(join(other, "vendor"), "0x1af4\n");
  writeFileSync(join(other, "device"), "0x1000\n");
  const device = join(devices, FAKE_PCI_ADDRESS);
  mkdirSync(device, { recursive: true });
  writeFileSync(join(device, "vendor"), "0x1af4\n");
  writeFileSync(join(device, "device"), "0x1110\n");
  symlinkSync(regionPath, join(device, "resource2"));
  symlinkSync(regionPath, join(device, "resource2_wc"));
  return root;
}

export const backends: Backend[] = [
  { name: "host region file", options: (paths) => ({ socket: paths.socket, region: paths.region }) },
  {
    name: "guest PCI device (sysfs)",
    options: (paths) => ({
      socket: paths.socket,
      sysfsRoot: fakeSysfs(join(paths.dir, "sysfs"), paths.region),
    }),
  },
];
