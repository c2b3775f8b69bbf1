/**
 * recv --out FILE --force gives the copy the owner and mode of the file it replaces. Of the file its keep
 * looked at: a file put at FILE after that look (by anyone who may write the directory) is not replaced
 * (the set-aside finds it is not that file), and the copy, left as FILE.partial, must not have taken its
 * owner and mode first: root's receive would have handed the bytes to that file's owner. The receiver is
 * stopped (strace's SIGSTOP) right after its look, the file put there, and it is continued.
 */
import { expect } from "bun:test";
import { chownSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NOBODY, notRoot } from "./helpers/as-nobody.ts";
import { EXIT_BOUND_MS, exitOrKill } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { randomSender, readIfThere, stoppedAfter } from "./helpers/stopped-recv.ts";
import { straceUnusable, testUnless } from "./helpers/tools.ts";
import { sameBytes } from "./helpers/transfer.ts";

const suite = sharedArbiter("rnm-mode-race");

testUnless(
  notRoot ?? straceUnusable(),
  "recv --out FILE --force: a file put at FILE after the keep's look gives the copy neither its owner nor its mode",
  async () => {
    const output = join(suite.dir, "owned.out");
    writeFileSync(output, "the old file\n", { mode: 0o600 });
    // The keep's look is the second open(2) of FILE's name: the first reads its flags (chattr) at the start.
    const injects = ["openat:signal=SIGSTOP:when=2"];
    const options = { extra: ["--force"], paths: suite.paths, on: output, injects };
    const recv = stoppedAfter("openat", "owned", output, options);
    try {
      const { data, sender } = await randomSender(suite, "owned", 20_000);
      await recv.untilStopped("the receiver's look at FILE");
      expect(readIfThere(`${output}.strace`)).toContain("O_PATH");
      const theirs = join(suite.dir, "owned.tmp");
      writeFileSync(theirs, "someone else's\n", { mode: 0o644 });
      chownSync(theirs, NOBODY, NOBODY);
      renameSync(theirs, output);
      recv.resume();
      expect([await exitOrKill(recv.proc, EXIT_BOUND_MS), await sender.exit()]).toEqual([1, 1]);
      expect(await recv.stderr).toContain(`${output} was not replaced: a file was put there`);
      expect(readFileSync(output, "utf8")).toBe("someone else's\n");
      const copy = statSync(`${output}.partial`);
      expect(sameBytes(new Uint8Array(readFileSync(`${output}.partial`)), data)).toBe(true);
      // Before: nobody's, 0644 (readable by all).
      expect({ uid: copy.uid, mode: (copy.mode & 0o777).toString(8) }).toEqual({ uid: 0, mode: "600" });
    } finally {
      recv.kill();
    }
  },
  60_000,
);
