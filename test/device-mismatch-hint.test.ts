/**
 * The refusal of a VM's IVSHMEM device that is not the arbiter's region (src/guest/device-mismatch.ts),
 * in-process on a fake sysfs: only a PCI BAR file (resource2, resource2_wc) is taken for a device, and of
 * the VM's other devices the hint names one of the arbiter's size first.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { failure } from "../src/errors.ts";
import { deviceAddress, deviceMismatch } from "../src/guest/device-mismatch.ts";
import type { Reply } from "../src/protocol/messages.ts";
import type { MappedRegion } from "../src/region/mapping.ts";

const directory = mkdtempSync(join(tmpdir(), "device-hint-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

test("only a BAR file under a PCI address is a device: a host file in a directory named like one is not", () => {
  const bar = "/sys/bus/pci/devices/0000:00:04.0/resource2";
  expect(deviceAddress(bar)).toBe("0000:00:04.0");
  expect(deviceAddress(`${bar}_wc`)).toBe("0000:00:04.0");
  expect(deviceAddress("/srv/0000:00:04.0/region")).toBeUndefined();
});

test("of two other devices, the hint names the one of the arbiter's size, not merely the first", () => {
  const root = join(directory, "sysfs");
  const sizes = [16 << 20, 8 << 20, 16 << 20]; // 04: the mapped one; 05: another size; 06: the arbiter's
  sizes.forEach((size, index) => {
    const device = join(root, "bus/pci/devices", `0000:00:0${4 + index}.0`);
    mkdirSync(device, { recursive: true });
    writeFileSync(join(device, "vendor"), "0x1af4\n");
    writeFileSync(join(device, "device"), "0x1110\n");
    const file = join(directory, `file-${index}`);
    writeFileSync(file, "");
    truncateSync(file, size);
    symlinkSync(file, join(device, "resource2"));
  });
  const region = {
    source: join(root, "bus/pci/devices/0000:00:04.0/resource2"),
    size: 16 << 20,
    headerWords: () => new Int32Array(1024),
    readHeader: () => {
      throw failure("RegionInvalid", "use it", "it holds no ivsh header (all zeros)");
    },
  } as unknown as MappedRegion;
  const hello = { regionSize: 16 << 20, epoch: 2, arbiterInstance: 77, vm: "" } as unknown as Reply<"hello">;
  const refused = failure("RegionInvalid", "use it", "it holds no ivsh header");
  const error = deviceMismatch(region, hello, { unix: "/run/ivsh.sock" }, refused);
  expect(error?.message).toContain("another IVSHMEM device, PCI 0000:00:06.0 (16.0 MiB)");
});
