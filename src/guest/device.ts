/**
 * Finding the IVSHMEM device in a guest: PCI vendor 0x1af4, device 0x1110, whose BAR 2 (the shared
 * region) the kernel exposes as `resource2` (uncached) and, for a prefetchable BAR, `resource2_wc`
 * (write-combining). The sysfs root is a parameter so tests can point it at a fake tree.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_SYSFS } from "../defaults.ts";
import { failure, libraryForm } from "../errors.ts";

const IVSHMEM_VENDOR = "0x1af4";
const IVSHMEM_DEVICE = "0x1110";

/** An IVSHMEM device (PCI 1af4:1110) as sysfs shows it: the files that map its shared memory (BAR 2). */
export interface IvshmemDevice {
  /** PCI address, e.g. 0000:00:04.0. */
  address: string;
  /** Path of the uncached BAR 2 mapping file. */
  resource2: string;
  /** Path of the write-combining mapping file, when the BAR is prefetchable. */
  resource2Wc: string | undefined;
  size: number;
}

function readId(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim().toLowerCase();
  } catch {
    return undefined;
  }
}

/** Every IVSHMEM device under `sysfsRoot` (left out: /sys), by PCI address; none outside a VM. */
export function findIvshmemDevices(sysfsRoot = DEFAULT_SYSFS): IvshmemDevice[] {
  // Called without one from plain JavaScript, join() threw Node's ERR_INVALID_ARG_TYPE ("paths[0]").
  if (typeof sysfsRoot !== "string")
    throw failure(
      "InvalidArgument",
      "find the IVSHMEM device",
      `its sysfs root ${String(sysfsRoot)} is not a path (leave it out for /sys)`,
    );
  const directory = join(sysfsRoot, "bus/pci/devices");
  if (!existsSync(directory)) return [];
  const devices: IvshmemDevice[] = [];
  for (const address of readdirSync(directory).sort()) {
    const base = join(directory, address);
    if (readId(join(base, "vendor")) !== IVSHMEM_VENDOR || readId(join(base, "device")) !== IVSHMEM_DEVICE)
      continue;
    const resource2 = join(base, "resource2");
    if (!existsSync(resource2)) continue;
    const wc = join(base, "resource2_wc");
    devices.push({
      address,
      resource2,
      resource2Wc: existsSync(wc) ? wc : undefined,
      size: statSync(resource2).size,
    });
  }
  return devices;
}

/**
 * Why a sysfs root other than /sys found no device, when it is no sysfs at all (part of the path, as
 * /sys/bus/pci/devices, or a typo): "start the VM with an ivshmem device" would send the user after the VM.
 */
export function notSysfs(sysfsRoot: string): string | undefined {
  if (sysfsRoot === DEFAULT_SYSFS || existsSync(join(sysfsRoot, "bus/pci/devices"))) return undefined;
  return (
    `${sysfsRoot} holds no bus/pci/devices, so it is not where sysfs is mounted: pass /sys ` +
    `(--sysfs-root /sys, or leave it out${libraryForm("; connect({ sysfsRoot }) likewise")})`
  );
}

/** sysfs's name for a PCI address: lspci leaves out domain 0000 (00:04.0), sysfs writes it, in lower case. */
function fullAddress(address: string): string {
  const lower = address.trim().toLowerCase();
  return /^[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(lower) ? `0000:${lower}` : lower;
}

/**
 * The IVSHMEM device to use: the first by PCI address (the one connect() maps), or the one at `address`
 * (as sysfs names it, 0000:00:04.0, or as lspci does, 00:04.0); under `sysfsRoot` (left out: /sys).
 */
export function findIvshmemDevice(sysfsRoot = DEFAULT_SYSFS, address?: string): IvshmemDevice {
  // From plain JavaScript: its trim() was a bare TypeError.
  if (address !== undefined && typeof address !== "string")
    throw failure(
      "InvalidArgument",
      "find the IVSHMEM device",
      `its address ${String(address)} is not a PCI address (a string such as 0000:00:04.0 or 00:04.0; leave it out for the first device)`,
    );
  const devices = findIvshmemDevices(sysfsRoot);
  const wanted = address && fullAddress(address);
  const chosen = wanted ? devices.find((device) => device.address === wanted) : devices[0];
  if (chosen) return chosen;
  const where = join(sysfsRoot, "bus/pci/devices");
  if (address) {
    const there = devices.map((device) => device.address).join(", ");
    throw failure(
      "DeviceNotFound",
      `use IVSHMEM device ${address}`,
      notSysfs(sysfsRoot) ??
        `no 1af4:1110 device with that address is in ${where}: ` +
          (there
            ? `the IVSHMEM devices there are ${there}`
            : "there is none (lspci -d 1af4:1110 lists them)"),
    );
  }
  throw failure(
    "DeviceNotFound",
    "find the IVSHMEM device",
    notSysfs(sysfsRoot) ??
      `no PCI device 1af4:1110 with a resource2 is in ${where} (start the VM with -device ivshmem-plain,memdev=... ` +
        "as scripts/qemu/launch.sh in ivsh's source repository does; on the host, pass --region PATH instead)",
  );
}
