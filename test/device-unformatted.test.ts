/**
 * A guest command run before the arbiter has formatted the device's file (the README's order:
 * `truncate -s 64M /dev/shm/ivsh`, boot the VM, then `ivsh host`; or an arbiter that is restarting) must
 * leave that file as it found it. The mapping probe wrote its 2 KiB pattern into the first page of
 * whatever the device held, so the arbiter then refused the file as someone's data ("byte 2049 is not
 * zero"), and a device that is another program's shared memory had its first page overwritten.
 */
import { afterAll, expect, test } from "bun:test";
import { readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { mappingProbe } from "../src/guest/connect-options.ts";
import { fakeSysfs } from "./helpers/backends.ts";
import { testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, runCli } from "./helpers/processes.ts";

const paths = testPaths("device-unformatted");
afterAll(() => paths.cleanup());

test("a guest command before the arbiter starts writes nothing into the device, and the arbiter then formats it", async () => {
  writeFileSync(paths.region, "");
  truncateSync(paths.region, 16 << 20); // as `truncate -s` makes it: no ivsh header, all zeros
  const sysfsRoot = fakeSysfs(join(paths.dir, "sysfs"), paths.region);
  const { exitCode, stderr } = await runCli([
    "guest",
    "recv",
    "--sysfs-root",
    sysfsRoot,
    "--socket",
    paths.socket,
  ]);
  expect(exitCode).toBe(1);
  expect(stderr).toMatch(/Failed to connect to the arbiter .* since no socket exists there/);
  expect(
    readFileSync(paths.region)
      .subarray(0, 4096)
      .every((byte) => byte === 0),
  ).toBe(true);
  const arbiter = await ArbiterProcess.start(paths); // refused the file as "not an ivsh region" before
  try {
    // Formatted now: the probe measures (on its scratch area) and connect() uses what it chose.
    expect(mappingProbe({ sysfsRoot })?.measured.length).toBe(2);
  } finally {
    await arbiter.stop();
  }
}, 60_000);

test("a device holding another program's data is not written by the probe", () => {
  const region = join(paths.shmDir, "foreign");
  const data = new Uint8Array(1 << 20).map((_, index) => (index * 13 + 5) & 0xff);
  writeFileSync(region, data);
  const sysfsRoot = fakeSysfs(join(paths.dir, "foreign-sysfs"), region);
  expect(mappingProbe({ sysfsRoot })).toBeUndefined();
  expect(new Uint8Array(readFileSync(region))).toEqual(data);
});
