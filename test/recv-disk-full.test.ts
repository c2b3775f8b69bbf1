/**
 * A receive into a file whose file system fills up: the receiver fails naming the full file system, and
 * the truncated FILE.partial is removed, not left to keep the disk full (what the error promises: "the
 * partial copy is removed"). The file system is a small tmpfs of the test's own.
 */
import { expectRecvIntoFullFileSystem } from "./helpers/recv-full.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { cannotMount } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

const suite = sharedArbiter("recv-disk-full");

testUnless(
  cannotMount,
  "recv --out on a file system that fills up: exit 1 naming ENOSPC, and no FILE.partial left",
  async () => {
    await expectRecvIntoFullFileSystem(suite.paths, suite.dir, "full");
  },
  60_000,
);
