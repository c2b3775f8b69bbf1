/**
 * A guest process given a host socket (--socket, or an IVSH_SOCKET copied into the VM) where its VM has an
 * IVSHMEM device: no such socket exists in the guest. For the default path the error said "in a VM: no
 * IVSHMEM device (PCI 1af4:1110) was found, start the VM with -device ivshmem-plain", untrue in a VM that
 * has one (found in a VM trial); for any other path it said nothing of how a guest reaches the arbiter.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fakeSysfs } from "./helpers/backends.ts";
import { testPaths } from "./helpers/paths.ts";
import { runCli } from "./helpers/processes.ts";
import { testUnless } from "./helpers/tools.ts";

const paths = testPaths("connect-socket-in-guest");
afterAll(() => paths.cleanup());

/** A fake sysfs tree with one IVSHMEM device, its BAR an unformatted file (nothing is written into it). */
function guestTree(): string {
  writeFileSync(paths.region, "");
  truncateSync(paths.region, 1 << 20);
  return fakeSysfs(join(paths.dir, "sysfs"), paths.region);
}

const GUEST_HINT =
  "this machine has an IVSHMEM device: a process in a VM reaches the arbiter through its VM's bridge";

testUnless(
  existsSync("/tmp/ivsh.sock") ? "an arbiter on this machine serves the default socket" : undefined,
  "--socket /tmp/ivsh.sock in a guest with a device: not told the device is missing, told to leave --socket out",
  async () => {
    const sysfsRoot = guestTree();
    const result = await runCli(["guest", "recv", "--sysfs-root", sysfsRoot, "--socket", "/tmp/ivsh.sock"]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain("at /tmp/ivsh.sock since no socket exists there (ENOENT)");
    expect(result.stderr).not.toContain("no IVSHMEM device");
    expect(result.stderr).toContain(GUEST_HINT);
    expect(result.stderr).toContain("leave out --socket and IVSH_SOCKET");
  },
);

test("IVSH_SOCKET naming a missing socket in a guest with a device: the same hint", async () => {
  const sysfsRoot = guestTree();
  const socket = join(paths.dir, "copied-from-the-host.sock");
  const result = await runCli(["guest", "send", "-", "--sysfs-root", sysfsRoot], { IVSH_SOCKET: socket });
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toContain(`at ${socket} since no socket exists there (ENOENT)`);
  expect(result.stderr).toContain(GUEST_HINT);
});

test("status --socket naming a missing socket in a guest with a device: the same hint", async () => {
  const sysfsRoot = guestTree();
  const socket = join(paths.dir, "nobody.sock");
  const result = await runCli(["status", "--sysfs-root", sysfsRoot, "--socket", socket]);
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toContain(`at ${socket} since no socket exists there (ENOENT)`);
  expect(result.stderr).toContain(GUEST_HINT);
});

test("on a host (no device), a missing --socket gets no guest hint", async () => {
  const socket = join(paths.dir, "host-nobody.sock");
  const result = await runCli(["status", "--sysfs-root", paths.dir, "--socket", socket]);
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toContain(`at ${socket} since no socket exists there (ENOENT)`);
  expect(result.stderr).not.toContain("IVSHMEM");
});
