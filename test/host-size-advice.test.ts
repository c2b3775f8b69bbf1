/**
 * A region whose size is not a power of two serves host processes only (QEMU's ivshmem refuses it). What
 * `ivsh host` advises about such a region must lead somewhere: found by a trial, a restart at 8 MiB over
 * a 5 MiB region file was told "pass --size 5MiB", which QEMU then refused, and the restart's warning "for
 * VMs pass e.g. --size 8MiB", which the existing file then refused.
 */
import { afterAll, expect, test } from "bun:test";
import { startLines } from "./helpers/host-run.ts";
import { testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, runCli } from "./helpers/processes.ts";

const paths = testPaths("lo32-size-advice");
afterAll(() => paths.cleanup());
const where = ["--region", paths.region, "--socket", paths.socket, "--state", paths.state];

test("a 5 MiB region: each piece of advice says how to get a size QEMU takes", async () => {
  const first = await ArbiterProcess.start(paths, { size: "5MiB" });
  await first.stop();
  expect(await first.spawned.stderr).toContain("(for VMs pass e.g. --size 8MiB)");

  // --size 8MiB over the 5 MiB file: "pass --size 5MiB" alone led to a region no VM can map.
  const other = await runCli(["host", ...where, "--size", "8MiB", "--block-size", "64KiB", "--slots", "64"]);
  expect(other.exitCode).toBe(1);
  expect(other.stderr).toContain(
    "the file is already 5.00 MiB, not a power of two as QEMU's ivshmem device needs (pass --size 5MiB to " +
      "serve it to host processes only; for VMs, remove the file if nothing uses it, then start with --size 8MiB)",
  );

  // Restarted at its size, the file there: "pass --size 8MiB" would meet the file's 5 MiB.
  const restart = await startLines([...where, "--block-size", "64KiB", "--slots", "64"], paths.dir);
  expect(restart).toContain(
    `the region's size, 5MiB, is not a power of two: QEMU's ivshmem device refuses such a region, so only ` +
      `host processes can use it (for VMs, remove ${paths.region} if nothing uses it, then start with --size 8MiB)`,
  );
  expect(restart).not.toContain("for VMs pass");
}, 60_000);
