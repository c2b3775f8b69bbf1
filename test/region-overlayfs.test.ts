/**
 * A region on overlayfs lives where the overlay writes it: its upper layer. Over tmpfs that is memory,
 * and was called "a disk file system (overlayfs)" by `ivsh host`, and not tmpfs (so freed blocks were
 * zeroed by writing, not punched); over a disk it is a disk, named as such. Needs an overlay mount (root).
 */
import { afterAll, expect } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { diskRegionWarning, isTmpfsPath } from "../src/region/region-file.ts";
import { testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { testUnless } from "./helpers/tools.ts";

/** An overlay mounted with its upper layer in `parent` (a fresh directory); its merged directory. */
function mountOverlay(parent: string): { merged?: string; reason?: string } {
  const base = mkdtempSync(join(parent, "ivsh-lo6-overlay-"));
  for (const part of ["lower", "upper", "work", "merged"]) mkdirSync(join(base, part));
  const options = `lowerdir=${base}/lower,upperdir=${base}/upper,workdir=${base}/work`;
  const mount = Bun.spawnSync(["mount", "-t", "overlay", "overlay", "-o", options, `${base}/merged`], {
    stderr: "pipe",
  });
  if (mount.exitCode === 0) return { merged: `${base}/merged` };
  rmSync(base, { recursive: true, force: true });
  return { reason: `an overlay cannot be mounted here: ${mount.stderr.toString().trim() || "mount failed"}` };
}

const overTmpfs = mountOverlay("/dev/shm");
const overDisk = overTmpfs.merged ? mountOverlay("/var/tmp") : overTmpfs;
afterAll(() => {
  for (const { merged } of [overTmpfs, overDisk])
    if (merged) {
      Bun.spawnSync(["umount", merged]);
      rmSync(join(merged, ".."), { recursive: true, force: true });
    }
});

testUnless(
  overTmpfs.reason,
  "a region on an overlay over tmpfs is memory: tmpfs to the zeroing, and ivsh host gives no disk warning",
  async () => {
    const region = join(overTmpfs.merged!, "region");
    const paths = testPaths("lo6-overlay");
    try {
      const arbiter = await ArbiterProcess.start({ ...paths, region });
      await arbiter.stop();
      expect(await arbiter.spawned.stderr).not.toContain("disk file system");
      expect(isTmpfsPath(region)).toBe(true);
      expect(diskRegionWarning(region)).toBeUndefined();
    } finally {
      paths.cleanup();
    }
  },
);

testUnless(
  overDisk.reason ??
    (isTmpfsPath("/var/tmp") ? "/var/tmp is tmpfs here: no disk to put an upper layer on" : undefined),
  "a region on an overlay over a disk is warned of, naming the disk's file system",
  async () => {
    const region = join(overDisk.merged!, "region");
    await Bun.write(region, "");
    expect(isTmpfsPath(region)).toBe(false);
    expect(diskRegionWarning(region)).toMatch(/is on a disk file system \((?!overlayfs)[^)]+\)/);
  },
);
