/**
 * A receive into a file whose file system fills up (a 1 MiB tmpfs of the test's own, fed 4 MiB through
 * `send -`): the receiver must fail naming the full file system, the sender with it, and no FILE.partial
 * may be left to keep the disk full. Shared by the write(2) path and the pipe path's test.
 */
import { expect } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { TestPaths } from "./paths.ts";
import { withSmallTmpfs } from "./small-fs.ts";
import { guest } from "./transfer.ts";

export async function expectRecvIntoFullFileSystem(paths: TestPaths, scratch: string, channel: string) {
  await withSmallTmpfs(join(scratch, "small"), "1m", async (dir) => {
    const output = join(dir, "big.out");
    const receiver = guest(paths, ["recv", "-q", "--channel", channel, "--out", output]);
    const sender = guest(paths, ["send", "-q", "-", "--channel", channel]);
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
}
