/**
 * The region file's start-up checks (src/region/region-file.ts) at their edges: the room a region needs is
 * what its file does not hold yet, up to exactly the free space; and a file that is not a region is refused
 * naming the first byte that is not zero.
 */
import { afterAll, beforeAll, test } from "bun:test";
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from "node:fs";
import { join } from "node:path";
import { checkRoomFor, refuseForeignContents } from "../src/region/region-file.ts";
import { expectFailure } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { cannotMount, withSmallTmpfs } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("region-file");
});
afterAll(() => paths?.cleanup());

testUnless(
  cannotMount,
  "a region needs room only for what its file does not hold yet, up to the last free byte",
  () =>
    withSmallTmpfs(join(paths.dir, "small"), "1m", async (small) => {
      const path = join(small, "region");
      const fd = openSync(path, "w+");
      try {
        writeSync(fd, Buffer.alloc(256 << 10, 1)); // 256 KiB already held by the file
        const held = fstatSync(fd).blocks * 512;
        const { bavail, bsize } = statfsSync(path);
        const free = bavail * bsize;
        checkRoomFor(fd, path, held + free); // exactly the free space more: fits
        expectFailure(() => checkRoomFor(fd, path, held + free + bsize), "NoSpace", /needs .* more but/);
      } finally {
        closeSync(fd);
      }
    }),
);

// Found by a trial: a region a page short of room on an 8 MiB tmpfs was refused with "the region needs
// 7.93 MiB more but its file system ... has only 7.93 MiB free": two equal figures, no reason to read.
testUnless(
  cannotMount,
  "a region a page short of room says by how much, not the same rounded figure twice",
  () =>
    withSmallTmpfs(join(paths.dir, "short"), "8m", async (small) => {
      const path = join(small, "region");
      const fd = openSync(path, "w+");
      try {
        const { bavail, bsize } = statfsSync(path);
        const free = bavail * bsize;
        expectFailure(
          () => checkRoomFor(fd, path, free + bsize),
          "NoSpace",
          new RegExp(
            `needs 8.00 MiB \\(${free + bsize} bytes\\) more but .* has only 8.00 MiB \\(${free} bytes\\) free`,
          ),
        );
      } finally {
        closeSync(fd);
      }
    }),
);

test("a file that is not a region is refused naming its first byte that is not zero", () => {
  const dir = mkdtempSync(join(paths.dir, "foreign-"));
  const path = join(dir, "image");
  const fd = openSync(path, "w");
  writeSync(fd, Buffer.alloc(8192)); // zeros, written (blocks allocated)
  writeSync(fd, Buffer.from([7]), 0, 1, 5000);
  closeSync(fd);
  expectFailure(() => refuseForeignContents(path, 0, 8192, false), "RegionInvalid", /byte 5000 is not zero/);
  rmSync(dir, { recursive: true });
});
