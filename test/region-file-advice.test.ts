/**
 * What the arbiter says about a region file (src/region/region-file.ts) in the cases the start-up tests
 * do not reach: a file its owner may not read and write is told to chmod u+rw, and one whose mode allows it
 * is told an ACL or a security module refused; a character device (a DAX device) and a file on ramfs, which
 * are memory, draw no warning of a disk file system, while a file on a disk does.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, mkdirSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { diskRegionWarning, readOnlyRegion, TMPFS_MAGIC, whyRefused } from "../src/region/region-file.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { cannotMount } from "./helpers/small-fs.ts";
import { testUnless, toolMissing } from "./helpers/tools.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("region-file-advice");
});
afterAll(() => paths?.cleanup());

test("a file of this user's that its owner may not read and write: chmod u+rw; one whose mode allows it: an ACL", () => {
  const path = join(paths.dir, "own-region");
  writeFileSync(path, "");
  chmodSync(path, 0o400);
  expect(whyRefused(path)).toContain("(give its owner read and write permission: chmod u+rw)");
  chmodSync(path, 0o600);
  expect(whyRefused(path)).toContain("its mode allows it, so an ACL or a security module refuses");
});

/**
 * A guest's device file in a read-only /sys (a unit's ProtectKernelTunables=, a container): "keep the region
 * in /dev/shm" and ReadWritePaths= are the host's remedies, none a guest has.
 */
test("a device's resource file on a read-only /sys: ProtectKernelTunables= or a container, not /dev/shm", () => {
  const device = "/sys/bus/pci/devices/0000:00:04.0";
  expect(readOnlyRegion(`${device}/resource2_wc`)).toBe(
    `${device} is on a read-only file system (EROFS): /sys is under a systemd unit with ProtectKernelTunables= ` +
      "and in most containers; run ivsh where the device's file opens read-write",
  );
  expect(readOnlyRegion("/srv/ivsh/region")).toContain(
    "keep the region in /dev/shm, or, under a systemd unit",
  );
});

/** Why a device node on a disk file system cannot be made here, if it cannot. */
function cannotMakeNode(): string | undefined {
  if (process.getuid?.() !== 0) return "only root can make a device node";
  const missing = toolMissing("mknod");
  if (missing) return missing;
  const type = statfsSync("/tmp").type;
  return type === TMPFS_MAGIC
    ? "/tmp is a tmpfs here: no disk file system to put a device node on"
    : undefined;
}

testUnless(
  cannotMakeNode(),
  "a character device on a disk file system (a DAX device) draws no disk warning",
  () => {
    const node = join(paths.dir, "dax0.0");
    const made = Bun.spawnSync(["mknod", node, "c", "1", "3"]); // /dev/null's numbers
    expect(made.exitCode).toBe(0);
    expect(diskRegionWarning(node)).toBeUndefined();
    const file = join(paths.dir, "plain-region");
    writeFileSync(file, "");
    expect(diskRegionWarning(file)).toContain(`--region ${file} is on a disk file system`);
  },
);

testUnless(cannotMount, "a region file on ramfs is memory: no disk warning", () => {
  const dir = join(paths.dir, "ramfs");
  mkdirSync(dir);
  const mounted = Bun.spawnSync(["mount", "-t", "ramfs", "ramfs", dir]);
  expect(mounted.exitCode).toBe(0);
  try {
    const file = join(dir, "region");
    writeFileSync(file, "");
    expect(diskRegionWarning(file)).toBeUndefined();
  } finally {
    Bun.spawnSync(["umount", "-l", dir]);
  }
});
