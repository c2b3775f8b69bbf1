/**
 * Edges of src/region/mapping.ts (mutation round 20): what createOrOpenRegionFile refuses and leaves as it
 * found it, the mode of a file it makes, what it says of a missing directory or a FIFO; no descriptor of
 * the region left open by a refused map or by a client's retire(); a refused open as a user who may not
 * open the file is PermissionDenied.
 */
import { afterAll, expect, test } from "bun:test";
import { chmodSync, existsSync, readdirSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createOrOpenRegionFile, mapRegionHeader } from "../src/region/mapping.ts";
import { notRoot, runAsNobody } from "./helpers/as-nobody.ts";
import { expectFailure } from "./helpers/errors.ts";
import { REPO, testPaths } from "./helpers/paths.ts";
import { testUnless } from "./helpers/tools.ts";

const paths = testPaths("region-mapping-edges");
afterAll(() => paths.cleanup());
const MIB = 1 << 20;

/** How many of this process's descriptors are open on `file`. */
function openOn(file: string): number {
  return readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === file;
    } catch {
      return false;
    }
  }).length;
}

test("a region file it makes is 0660 whatever the umask; one the operator made keeps its mode", () => {
  const made = join(paths.shmDir, "made");
  const previous = process.umask(0o022);
  try {
    const { region, created } = createOrOpenRegionFile(made, MIB);
    region.close();
    expect(created).toBe(true);
    expect(statSync(made).mode & 0o777).toBe(0o660);
    const operators = join(paths.shmDir, "operators");
    writeFileSync(operators, "");
    chmodSync(operators, 0o600);
    createOrOpenRegionFile(operators, MIB).region.close();
    expect(statSync(operators).mode & 0o777).toBe(0o600);
  } finally {
    process.umask(previous);
  }
});

test("an existing file of another size, larger or smaller, is refused and left as it was", () => {
  for (const existing of [2 * MIB, MIB / 2]) {
    const file = join(paths.shmDir, `sized-${existing}`);
    writeFileSync(file, new Uint8Array(existing).fill(7));
    expectFailure(
      () => createOrOpenRegionFile(file, MIB),
      "RegionInvalid",
      /as a 1\.00 MiB region since the file is already .*pass --size/,
    );
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).size).toBe(existing);
    expect(openOn(file)).toBe(0);
  }
});

test("a region in a directory that does not exist is NotFound, naming the directory", () => {
  expectFailure(
    () => createOrOpenRegionFile(join(paths.shmDir, "absent", "region"), MIB),
    "NotFound",
    /create the region .*absent\/region since its directory does not exist/,
  );
});

test("a FIFO named as the region is refused as not a regular file, and not removed", () => {
  const fifo = join(paths.dir, "fifo");
  expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
  expectFailure(
    () => createOrOpenRegionFile(fifo, MIB),
    "RegionInvalid",
    /serve .*fifo since it is a named pipe \(FIFO\), not a regular file/,
  );
  expect(statSync(fifo).isFIFO()).toBe(true);
  expect(openOn(fifo)).toBe(0);
});

test("a file too small to map leaves no descriptor open; neither does a client's retired mapping", () => {
  const small = join(paths.shmDir, "small");
  writeFileSync(small, new Uint8Array(100));
  for (let attempt = 0; attempt < 3; attempt++)
    expectFailure(() => mapRegionHeader(small), "RegionInvalid", /it is 100 bytes, too small/);
  expect(openOn(small)).toBe(0);
  const file = join(paths.shmDir, "retired");
  writeFileSync(file, new Uint8Array(MIB));
  const region = mapRegionHeader(file);
  expect(openOn(file)).toBe(1);
  region.retire();
  expect(openOn(file)).toBe(0);
});

testUnless(notRoot, "a region file this user may not open is PermissionDenied, saying why", () => {
  const file = join(paths.shmDir, "private");
  writeFileSync(file, new Uint8Array(MIB));
  chmodSync(file, 0o600);
  chmodSync(paths.shmDir, 0o755);
  const script = join(paths.dir, "open.ts");
  writeFileSync(
    script,
    `import { openRegionReadWrite } from ${JSON.stringify(join(REPO, "src/region/mapping.ts"))};\n` +
      "try { openRegionReadWrite(process.argv[2]); console.log('opened'); } catch (error) { console.log(error.code, error.message); }\n",
  );
  chmodSync(paths.dir, 0o755);
  chmodSync(script, 0o644);
  const said = runAsNobody(script, [file]);
  expect(said).toStartWith(`PermissionDenied Failed to map the region ${file} since`);
});
