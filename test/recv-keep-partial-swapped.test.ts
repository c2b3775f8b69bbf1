/**
 * recv --out FILE whose FILE.partial is given another file (anyone who may write the directory; another
 * receiver's --force takes an unlocked one for stale) between the end of the stream and the keep: the
 * name is not the copy any more, and that file is never moved to FILE (src/transfer/keep-copy.ts checks
 * the name before anything moves). The receiver is stopped (strace's SIGSTOP) at its keep's look at FILE.
 */
import { expect } from "bun:test";
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EXIT_BOUND_MS, exitOrKill } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { randomSender, stoppedAfter } from "./helpers/stopped-recv.ts";
import { straceUnusable, testUnless } from "./helpers/tools.ts";

const suite = sharedArbiter("keep-partial-swapped");

testUnless(
  straceUnusable(),
  "recv --out FILE: FILE.partial given another file just before the keep: that file is not moved to FILE",
  async () => {
    const label = "swapped";
    const output = join(suite.dir, `${label}.out`);
    // Its keep's look at FILE is the first open(2) of FILE's name (O_PATH) of a receiver that found no
    // FILE at its start (with --force over a FILE, one at its start comes first).
    const recv = stoppedAfter("openat", label, output, {
      paths: suite.paths,
      on: output,
      injects: ["openat:signal=SIGSTOP:when=1"],
    });
    try {
      const { data, sender } = await randomSender(suite, label, 50_000);
      await recv.untilStopped("the receiver's look at FILE");
      expect(statSync(`${output}.partial`).size).toBe(data.byteLength);
      rmSync(`${output}.partial`);
      writeFileSync(`${output}.partial`, "another receiver's bytes\n");
      recv.resume();
      expect([await exitOrKill(recv.proc, EXIT_BOUND_MS), await sender.exit()]).toEqual([1, 1]);
      // Before (the check dropped): FILE held the other file, moved there; FILE.partial was gone.
      const at = (path: string) => (existsSync(path) ? readFileSync(path, "utf8") : undefined);
      expect({ final: at(output), partial: at(`${output}.partial`) }).toEqual({
        final: undefined,
        partial: "another receiver's bytes\n",
      });
    } finally {
      recv.kill();
    }
  },
  60_000,
);
