/**
 * A VM with two IVSHMEM devices of one size, the arbiter's region behind the second and a file no arbiter
 * formatted behind the first (launch.sh's default /dev/shm/ivsh, say): the guest maps the first. Being of
 * the arbiter's size, its blank header was taken for one being put back, and after waiting for the
 * arbiter's sweeps the guest said "something may be overwriting it ... retry" without a word of the other
 * device, which is the arbiter's region and works with the flags the refusal of a device names.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isIvshError } from "../src/errors.ts";
import { connect } from "../src/guest/connect.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("device-two");
  arbiter = await ArbiterProcess.start(paths, { size: "16MiB" });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

/** A fake sysfs with one IVSHMEM device per file, at 0000:00:04.0, 0000:00:05.0, ... in that order. */
function sysfsWith(root: string, files: string[]): string {
  files.forEach((file, index) => {
    const device = join(root, "bus/pci/devices", `0000:00:0${4 + index}.0`);
    mkdirSync(device, { recursive: true });
    writeFileSync(join(device, "vendor"), "0x1af4\n");
    writeFileSync(join(device, "device"), "0x1110\n");
    symlinkSync(file, join(device, "resource2"));
  });
  return root;
}

test("a blank first device of the arbiter's size: the refusal names the second device and its flags", async () => {
  const blank = join(paths.shmDir, "blank");
  writeFileSync(blank, "");
  truncateSync(blank, 16 << 20);
  const sysfsRoot = sysfsWith(join(paths.dir, "sysfs"), [blank, paths.region]);
  const second = join(sysfsRoot, "bus/pci/devices/0000:00:05.0/resource2");
  const error = await connect({ sysfsRoot, socket: paths.socket }).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(isIvshError(error, "RegionInvalid")).toBe(true);
  const { message } = error as Error;
  expect(message).toMatch(/device \(PCI 0000:00:04\.0, 16\.0 MiB\) .* is not the region that arbiter serves/);
  expect(message).toContain(
    `another IVSHMEM device, PCI 0000:00:05.0 (16.0 MiB): if it is that arbiter's region, pass --region ${second} --socket ${paths.socket}`,
  );
  // Those flags work.
  const client = await connect({
    region: join(sysfsRoot, "bus/pci/devices/0000:00:05.0/resource2"),
    socket: paths.socket,
  });
  await client.close();
}, 60_000);
