/**
 * A receive into a file whose file system fills up: the receiver fails naming the full file system, and
 * the truncated FILE.partial is removed, not left to keep the disk full (what the error promises: "the
 * partial copy is removed"). The file system is a small tmpfs of the test's own.
 */
import { expect } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { cannotMount, withSmallTmpfs } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";
import { guest } from "./helpers/transfer.ts";

const suite = sharedArbiter("recv-disk-full");

testUnless(
  cannotMount,
  "recv --out on a file system that fills up: exit 1 naming ENOSPC, and no FILE.partial left",
  async () => {
    await withSmallTmpfs(join(suite.dir, "small"), "1m", async (dir) => {
      const output = join(dir, "big.out");
      const receiver = guest(suite.paths, ["recv", "-q", "--channel", "full", "--out", output]);
      const sender = guest(suite.paths, ["send", "-q", "-", "--channel", "full"]);
      try {
        sender.proc.stdin.write(new Uint8Array(4 << 20).fill(7));
        await sender.proc.stdin.flush();
        sender.proc.stdin.end();
      } catch (error) {
        // The receiver failed at the first full chunk and the sender with it, before the feed was all
        // written (CI once): its pipe then refuses the rest, which is this test's outcome, not a failure.
        if ((error as NodeJS.ErrnoException).code !== "EPIPE") throw error;
      }
      expect(await receiver.exit()).toBe(1);
      expect(await receiver.stderr).toMatch(
        /its file system is full \(ENOSPC\) after .*\(the partial copy is removed\)/,
      );
      expect(await sender.exit()).toBe(1);
      expect(existsSync(`${output}.partial`)).toBe(false);
      expect(readdirSync(dir)).toEqual([]);
    });
  },
  60_000,
);
