/**
 * A client retrying an arbiter that is restarting meets a missing socket (ENOENT) on every try, and each
 * try's refusal asks whether this machine has an IVSHMEM device (src/guest/missing-socket.ts). Scanning the
 * PCI tree on every try, 1 000 clients of `ivsh bench --scale` took the CPU the restarting arbiter needed
 * (restart answered in 3.5–6.9 s instead of 1.6–1.8 s). The tree is scanned once per process: a device
 * that appears later is not looked for again (devices come with the VM's boot, not during a command).
 */
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { socketMissingHint } from "../src/guest/missing-socket.ts";

const directory = mkdtempSync(join(tmpdir(), "missing-socket-scan-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

function addDevice(sysfsRoot: string): void {
  const device = join(sysfsRoot, "bus/pci/devices/0000:00:04.0");
  mkdirSync(device, { recursive: true });
  writeFileSync(join(device, "vendor"), "0x1af4\n");
  writeFileSync(join(device, "device"), "0x1110\n");
  writeFileSync(join(device, "resource2"), "");
}

test("the PCI tree is scanned once per process, not at every retry's refusal", () => {
  const sysfsRoot = join(directory, "sys");
  mkdirSync(sysfsRoot);
  const hint = () => socketMissingHint("/run/ivsh-test.sock", "ENOENT", sysfsRoot);
  expect(hint()).not.toContain("this machine has an IVSHMEM device");
  addDevice(sysfsRoot);
  // Scanned again, this would now name the device.
  expect(hint()).not.toContain("this machine has an IVSHMEM device");
  const other = join(directory, "other");
  addDevice(other);
  expect(socketMissingHint("/run/ivsh-test.sock", "ENOENT", other)).toContain(
    "this machine has an IVSHMEM device",
  );
});
