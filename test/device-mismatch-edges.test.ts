/**
 * The refusal of a VM's IVSHMEM device that is not the arbiter's region (src/guest/device-mismatch.ts),
 * in-process on a fake sysfs and scripted regions: a PCI address with anything after its function is no
 * address; a device mapping less of the arbiter's own region (same size, instance and epoch in its header)
 * is told as cut short, one whose header is another run's (other epoch or instance) or as large as it says
 * is not; with no other device of the arbiter's size the hint names another one still; a blank device's
 * reason reads "no ivsh region (…)" once, not nested; the VM's name is said when the bridge gives it; a
 * host process's region file is no device (undefined: the generic refusal stands).
 */
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { failure } from "../src/errors.ts";
import { deviceAddress, deviceMismatch } from "../src/guest/device-mismatch.ts";
import type { Reply } from "../src/protocol/messages.ts";
import { noteGreeted, readHeader, startGreeting, writeHeader } from "../src/region/header.ts";
import { computeGeometry, PAGE_SIZE } from "../src/region/layout.ts";
import type { MappedRegion } from "../src/region/mapping.ts";

const directory = mkdtempSync(join(tmpdir(), "device-edges-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

const MIB = 1 << 20;
const refused = failure("RegionInvalid", "use it", "it holds no ivsh header");
const endpoint = { unix: "/run/ivsh.sock" };

/** A fake sysfs with devices of `sizes` at 0000:00:04.0, :05.0, ...; returns the first one's BAR file. */
function sysfs(name: string, sizes: number[]): string {
  const root = join(directory, name);
  sizes.forEach((size, index) => {
    const device = join(root, "bus/pci/devices", `0000:00:0${4 + index}.0`);
    mkdirSync(device, { recursive: true });
    writeFileSync(join(device, "vendor"), "0x1af4\n");
    writeFileSync(join(device, "device"), "0x1110\n");
    const file = join(directory, `${name}-file-${index}`);
    writeFileSync(file, "");
    truncateSync(file, size);
    symlinkSync(file, join(device, "resource2"));
  });
  return join(root, "bus/pci/devices/0000:00:04.0/resource2");
}

/** A mapped device of `size` bytes whose header says `header` (none: blank). */
function region(
  source: string,
  size: number,
  header?: { regionSize: number; epoch: number; instance: number },
) {
  const words = new Int32Array(PAGE_SIZE / 4);
  if (header)
    writeHeader(words, {
      ...computeGeometry(header.regionSize, 64 * 1024, 64),
      epoch: header.epoch,
      arbiterPid: 1234,
      arbiterInstance: header.instance,
    });
  return {
    source,
    size,
    headerWords: () => words,
    readHeader: () => {
      throw failure("RegionInvalid", "use it", "it holds no ivsh header (all zeros)");
    },
  } as unknown as MappedRegion;
}

function hello(regionSize: number, vm = "") {
  return { regionSize, epoch: 3, arbiterInstance: 77, vm } as unknown as Reply<"hello">;
}

test("a PCI address with more after its function is no device address; a host's region file is no device", () => {
  expect(deviceAddress("/sys/bus/pci/devices/0000:00:04.0/resource2")).toBe("0000:00:04.0");
  expect(deviceAddress("/srv/0000:00:04.0x/resource2")).toBeUndefined();
  expect(deviceAddress("/srv/0000:00:04.01/resource2")).toBeUndefined();
  // A host process's region file: not a device, so no device's refusal (the generic one stands).
  expect(
    deviceMismatch(region("/dev/shm/region", 16 * MIB), hello(32 * MIB), endpoint, refused),
  ).toBeUndefined();
});

test("only the arbiter's own header on a device mapping less than it is told as cut short", () => {
  const source = sysfs("cut", [16 * MIB]);
  const own = { regionSize: 32 * MIB, epoch: 3, instance: 77 };
  const cut = (header: typeof own, size = 16 * MIB) =>
    deviceMismatch(region(source, size, header), hello(32 * MIB), endpoint, refused)?.message ?? "";
  expect(cut(own)).toContain("since the device maps only the first 16.0 MiB of the 32.0 MiB region");
  expect(cut({ ...own, epoch: 4 })).toContain("since the device is not the region that arbiter serves");
  expect(cut({ ...own, instance: 78 })).toContain("since the device is not the region that arbiter serves");
  expect(cut(own, 32 * MIB)).toContain("since the device is not the region that arbiter serves");
});

test("no other device of the arbiter's size: the hint names another; a blank device's reason is said once", () => {
  const source = sysfs("other", [16 * MIB, 8 * MIB]);
  const message =
    deviceMismatch(region(source, 16 * MIB), hello(32 * MIB, "vm-7"), endpoint, refused)?.message ?? "";
  expect(message).toContain("This VM has another IVSHMEM device, PCI 0000:00:05.0 (8.00 MiB)");
  expect(message).toContain("it holds no ivsh region (all zeros).");
  expect(message).toContain("boot VM 'vm-7' with the region file");
});

test("the arbiter's own header that does not show this client's hello is told as a mapping without share=on", () => {
  const source = sysfs("private", [32 * MIB]);
  const device = region(source, 32 * MIB, { regionSize: 32 * MIB, epoch: 3, instance: 77 });
  const words = device.headerWords();
  device.readHeader = () => readHeader(words, 32 * MIB, source);
  const as = (clientId: number) =>
    deviceMismatch(device, { ...hello(32 * MIB), clientId }, endpoint, refused)?.message ?? "";
  // No word of this epoch (an older arbiter's region): nothing said, so not called a private copy.
  expect(as(4)).toContain("since the device is not the region that arbiter serves");
  startGreeting(words, 3);
  expect(as(4)).toContain("(it greeted this client as 4, the device says none above 0)");
  expect(as(4)).toContain("memory-backend-file,share=on");
  expect(as(4)).not.toContain("another arbiter or run");
  noteGreeted(words, 4, 3);
  expect(as(4)).not.toContain("without share=on");
  // Another epoch's words, read by this epoch's client: nothing said.
  noteGreeted(words, 2, 2);
  expect(as(4)).not.toContain("without share=on");
});
