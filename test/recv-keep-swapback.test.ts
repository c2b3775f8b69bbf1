/**
 * recv --out FILE --force's keep swaps the copy and the file found at FILE in one step (RENAME_EXCHANGE),
 * then removes the name FILE.partial (the old file's now; FILE.ivsh-replaced keeps it), or swaps back if
 * what it took was not that file. A name emptied right after the swap (by anyone who may write the
 * directory: another receiver's --force takes an unlocked FILE.partial for a stale one) had the swap back
 * fail ENOENT: the receiver stopped (strace's SIGSTOP) as its swap returns, the name is emptied, and it
 * is continued, so the order is certain.
 */
import { expect } from "bun:test";
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EXIT_BOUND_MS, exitOrKill } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { randomSender, stoppedAfter } from "./helpers/stopped-recv.ts";
import { straceUnusable, testUnless } from "./helpers/tools.ts";
import { sameBytes } from "./helpers/transfer.ts";

const suite = sharedArbiter("rnm-swapback");

testUnless(
  straceUnusable(),
  "recv --out FILE --force: FILE.partial removed just after the swap leaves the copy at FILE, kept (exit 0), not 'nothing kept'",
  async () => {
    const output = join(suite.dir, "emptied.out");
    writeFileSync(output, "the old file\n");
    // The keep's swap is the first renameat2 on FILE (the set-aside is a link).
    const injects = ["renameat2:signal=SIGSTOP:when=1"];
    const options = { extra: ["--force"], paths: suite.paths, on: output, injects };
    const recv = stoppedAfter("renameat2", "emptied", output, options);
    try {
      const { data, sender } = await randomSender(suite, "emptied", 20_000);
      await recv.untilStopped("the receiver's swap");
      // Swapped: FILE is the copy, FILE.partial the old file (also FILE.ivsh-replaced, a hard link).
      expect(readFileSync(`${output}.partial`, "utf8")).toBe("the old file\n");
      rmSync(`${output}.partial`);
      recv.resume();
      const codes = [await exitOrKill(recv.proc, EXIT_BOUND_MS), await sender.exit()];
      // Before: [1, 1], '... was removed or replaced during the transfer; nothing kept (receive again)',
      // with the copy at FILE and the old file at FILE.ivsh-replaced, not named.
      expect({ codes, said: await recv.stderr }).toEqual({ codes: [0, 0], said: expect.any(String) });
      expect(sameBytes(new Uint8Array(readFileSync(output)), data)).toBe(true);
      expect(existsSync(`${output}.ivsh-replaced`)).toBe(false);
    } finally {
      recv.kill();
    }
  },
  60_000,
);

testUnless(
  straceUnusable(),
  "recv --out FILE --force: a file saved at FILE just before the swap, the copy then removed: that file goes back to FILE, the old one stays aside, named",
  async () => {
    const output = join(suite.dir, "saved.out");
    writeFileSync(output, "the old file\n");
    const injects = ["renameat2:signal=SIGSTOP:when=1"];
    const options = { extra: ["--force"], paths: suite.paths, on: output, injects };
    const recv = stoppedAfter("renameat2", "saved", output, options);
    try {
      const { sender } = await randomSender(suite, "saved", 20_000);
      await recv.untilStopped("the receiver's swap");
      // As if a save (a rename over FILE) came just before the swap, which took it to FILE.partial; then
      // the copy at FILE is removed: the swap back finds FILE empty (ENOENT).
      writeFileSync(join(suite.dir, "saved.tmp"), "saved meanwhile\n");
      renameSync(join(suite.dir, "saved.tmp"), `${output}.partial`);
      rmSync(output);
      recv.resume();
      const codes = [await exitOrKill(recv.proc, EXIT_BOUND_MS), await sender.exit()];
      expect(codes).toEqual([1, 1]);
      const said = await recv.stderr;
      expect(said).toContain("nothing kept (receive again)");
      expect(said).toContain(`the file it was to replace is ${output}.ivsh-replaced`);
      // Before: the save left at FILE.partial (named as the copy left there), the old file put back at FILE.
      expect(readFileSync(output, "utf8")).toBe("saved meanwhile\n");
      expect(readFileSync(`${output}.ivsh-replaced`, "utf8")).toBe("the old file\n");
      expect(existsSync(`${output}.partial`)).toBe(false);
    } finally {
      recv.kill();
    }
  },
  60_000,
);
