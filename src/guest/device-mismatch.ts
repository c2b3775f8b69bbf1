/**
 * A guest whose IVSHMEM device is not the region its arbiter serves: the VM was booted with another file
 * behind its device than the one `ivsh host` formats, or its bridge leads to another arbiter. Nothing in
 * the guest can fix that (the generic advice, "pass the matching --region", names a flag that does not
 * apply to a device), so the error says what the device holds and what to change on the host.
 */
import { basename, dirname, resolve } from "node:path";
import { IvshError, libraryForm, reasonOf } from "../errors.ts";
import type { Reply } from "../protocol/messages.ts";
import { greetedUpTo, readHeader } from "../region/header.ts";
import type { MappedRegion } from "../region/mapping.ts";
import { formatBytes } from "../units.ts";
import { findIvshmemDevices, type IvshmemDevice } from "./device.ts";
import { describeEndpoint, type Endpoint } from "./link-errors.ts";

/** A PCI device's BAR 2 mapping file in sysfs: `.../<domain:bus:slot.fn>/resource2[_wc]`. */
const DEVICE_RESOURCE = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/i;

/**
 * The PCI address when `source` is a device's resource file, else undefined (a host's region file); a
 * relative path (`resource2` in the device's directory) is read from the working directory.
 */
export function deviceAddress(source: string): string | undefined {
  if (!/^resource2(_wc)?$/.test(basename(source))) return undefined;
  const address = basename(dirname(resolve(source)));
  return DEVICE_RESOURCE.test(address) ? address : undefined;
}

/** What the device's first page holds, in words. */
function contents(region: MappedRegion): string {
  try {
    const header = region.readHeader();
    return `the ivsh region of another arbiter or run (${formatBytes(header.regionSize)}, epoch ${header.epoch}, arbiter pid ${header.arbiterPid})`;
  } catch (error) {
    const reason = reasonOf(error as Error);
    return `no ivsh region (${reason.replace(/^it holds no ivsh header \((.*)\)$/, "$1")})`;
  }
}

/**
 * The mapping is the arbiter's own region (its header, instance and epoch), but shorter than the region:
 * in a VM, QEMU maps less of the file (its size=); on the host, the file was truncated or part copied.
 */
export function truncatedRegion(region: MappedRegion, hello: Reply<"hello">): boolean {
  try {
    // Read as if all were mapped: readHeader refuses a region larger than the mapping, which is the point here.
    const header = readHeader(region.headerWords(), Number.MAX_SAFE_INTEGER, region.source);
    return (
      region.size < header.regionSize &&
      header.regionSize === hello.regionSize &&
      header.arbiterInstance === hello.arbiterInstance &&
      header.epoch === hello.epoch
    );
  } catch {
    return false;
  }
}

/**
 * The device shows the arbiter's own region (its instance and epoch) but not the hello the arbiter just
 * recorded there: QEMU maps the file privately (memory-backend-file without share=on), so the guest reads
 * the pages as they were and keeps its writes to itself. Only share=on on the host fixes it.
 */
function privateCopy(region: MappedRegion, hello: Reply<"hello">): number | undefined {
  try {
    const header = region.readHeader();
    if (header.arbiterInstance !== hello.arbiterInstance || header.epoch !== hello.epoch) return undefined;
    // Words another start (or an older arbiter) left say nothing: no refusal on them.
    const greeted = greetedUpTo(region.headerWords(), hello.epoch);
    return greeted !== undefined && greeted < hello.clientId ? greeted : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Another IVSHMEM device in this VM than the one at `address` (`source` is its resource file), one of the
 * arbiter's region size first: connect() maps the first device found, which need not be the arbiter's.
 */
function otherDevice(source: string, address: string, regionSize: number): IvshmemDevice | undefined {
  const sysfsRoot = dirname(dirname(dirname(dirname(dirname(resolve(source)))))); // ROOT/bus/pci/devices/ADDR/resource2
  try {
    const others = findIvshmemDevices(sysfsRoot).filter((device) => device.address !== address);
    return others.find((device) => device.size === regionSize) ?? others[0];
  } catch {
    return undefined; // a hint only: the refusal stands without it
  }
}

/**
 * The error for a guest whose device is another region than the arbiter's (`refused`, the generic
 * refusal, is the cause), or undefined when the region is not a device (a host process's file).
 */
export function deviceMismatch(
  region: MappedRegion,
  hello: Reply<"hello">,
  endpoint: Endpoint,
  refused: IvshError,
): IvshError | undefined {
  const address = deviceAddress(region.source);
  if (!address) return undefined;
  const vm = hello.vm ? `VM '${hello.vm}'` : "the VM";
  if (truncatedRegion(region, hello))
    return new IvshError(
      "RegionInvalid",
      `Failed to use this VM's IVSHMEM device (PCI ${address}, ${formatBytes(region.size)}) with the arbiter at ` +
        `${describeEndpoint(endpoint)} since the device maps only the first ${formatBytes(region.size)} of the ` +
        `${formatBytes(hello.regionSize)} region that arbiter serves (its header is that arbiter's): on the host, ` +
        `boot ${vm} with the whole file behind its ivshmem device (QEMU's -object memory-backend-file,share=on,` +
        `mem-path=FILE,size=${hello.regionSize}; scripts/qemu/launch.sh --region FILE from ivsh's source repository takes the file's size)`,
      { cause: refused },
    );
  const greeted = privateCopy(region, hello);
  if (greeted !== undefined)
    return new IvshError(
      "RegionInvalid",
      `Failed to use this VM's IVSHMEM device (PCI ${address}, ${formatBytes(region.size)}) with the arbiter at ` +
        `${describeEndpoint(endpoint)} since the device shows that arbiter's region as it was, not what the ` +
        `arbiter writes (it greeted this client as ${hello.clientId}, the device says none above ${greeted}): ` +
        `QEMU maps the file without share=on, a private copy no other VM or host process sees. On the host, boot ` +
        `${vm} with share=on (QEMU's -object memory-backend-file,share=on,mem-path=FILE; ` +
        "scripts/qemu/launch.sh from ivsh's source repository does)",
      { cause: refused },
    );
  const other = otherDevice(region.source, address, hello.regionSize);
  const [flag, option] = "unix" in endpoint ? ["--socket", "socket"] : ["--connect", "tcp"];
  const useOther = other
    ? `This VM has another IVSHMEM device, PCI ${other.address} (${formatBytes(other.size)}): if it is that ` +
      `arbiter's region, pass --region ${other.resource2} ${flag} ${describeEndpoint(endpoint)} ` +
      `${libraryForm(`(connect({ region, ${option} })) `)}to use it. Otherwise, on the host, boot`
    : "On the host, boot";
  const message =
    `Failed to use this VM's IVSHMEM device (PCI ${address}, ${formatBytes(region.size)}) with the arbiter at ` +
    `${describeEndpoint(endpoint)} since the device is not the region that arbiter serves ` +
    `(${formatBytes(hello.regionSize)}, epoch ${hello.epoch}): ` +
    `it holds ${contents(region)}. ${useOther} ${vm} with the region file that arbiter serves behind ` +
    "its ivshmem device (`ivsh status` on the host names the file; scripts/qemu/launch.sh --region FILE from ivsh's source repository, or " +
    "QEMU's -object memory-backend-file,share=on,mem-path=FILE), or point its bridge at the arbiter that " +
    "serves the device's file (launch.sh --socket)";
  return new IvshError("RegionInvalid", message, { cause: refused });
}
