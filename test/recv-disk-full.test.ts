/**
 * A receive into a file whose file system fills up: the receiver fails naming the full file system, and
 * the truncated FILE.partial is removed, not left to keep the disk full (what the error promises: "the
 * partial copy is removed"). One whose file system has no room for FILE.partial at all (no free inode)
 * gets the same kind of named error, not a raw one. The file system is a small tmpfs of the test's own.
 */
import { expect } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expectRecvIntoFullFileSystem } from "./helpers/recv-full.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { cannotMount, withSmallTmpfs } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";
import { guest } from "./helpers/transfer.ts";

const suite = sharedArbiter("recv-disk-full");

testUnless(
  cannotMount,
  "recv --out on a file system that fills up: exit 1 naming ENOSPC, and no FILE.partial left",
  async () => {
    await expectRecvIntoFullFileSystem(suite.paths, suite.dir, "full");
  },
  60_000,
);

/** Creates empty files in `dir` until its file system refuses one (ENOSPC: no inode left). */
function useUpInodes(dir: string): void {
  for (let index = 0; ; index++)
    try {
      writeFileSync(join(dir, `filler-${index}`), "");
    } catch (error) {
      if ((error as { code?: string }).code === "ENOSPC") return;
      throw error;
    }
}

testUnless(
  cannotMount,
  "recv --out on a file system with no inode left for FILE.partial: a named error, FILE left as it was",
  async () => {
    await withSmallTmpfs(
      join(suite.dir, "few-inodes"),
      "1m",
      async (dir) => {
        const output = join(dir, "filler-0");
        useUpInodes(dir);
        writeFileSync(output, "kept"); // its data needs no new inode
        for (const extra of [[], ["--force"]]) {
          const out = extra.length === 0 ? join(dir, "new.out") : output;
          const receiver = guest(suite.paths, ["recv", "--channel", "inodes", "--out", out, ...extra]);
          expect(await receiver.exit()).toBe(1);
          expect(await receiver.stderr).toContain(
            `Failed to write ${out} since its file system has no room for ${out}.partial (ENOSPC`,
          );
        }
        expect(readFileSync(output, "utf8")).toBe("kept");
      },
      8,
    );
  },
  60_000,
);
