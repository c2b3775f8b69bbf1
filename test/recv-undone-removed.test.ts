/**
 * A receiver frozen past its lease just after its keep (--force) undoes the keep when it wakes, and says
 * where the copy and the old file are (src/commands/guest-recv.ts, warnUndone). FILE removed while it was
 * frozen (the copy with it: nothing to move back), the old file stays FILE.ivsh-replaced; that was said as
 * "a file was put at FILE after the keep, and was not replaced", which no one had done.
 */
import { expect } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EXIT_BOUND_MS, exitOrKill } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { randomSender, readIfThere, senderOutlastingKeep, stoppedAfter } from "./helpers/stopped-recv.ts";
import { straceUnusable, testUnless } from "./helpers/tools.ts";

const short = sharedArbiter("rnm-undo-removed", { lease: "2s" });

testUnless(
  straceUnusable(),
  "a receiver undoing its keep (--force) after FILE was removed says so, not that a file was put there",
  async () => {
    const label = "undone-removed";
    const output = join(short.dir, `${label}.out`);
    writeFileSync(output, "the old contents");
    // Stopped at the last look of its keep (the 14th statx on FILE), as test/recv-keep-race.test.ts does.
    const injects = ["statx:signal=SIGSTOP:when=14"];
    const options = { extra: ["--force"], paths: short.paths, on: output, injects };
    const first = stoppedAfter("statx", label, output, options);
    try {
      const { sender } = await randomSender(short, label, 10_000);
      expect(await senderOutlastingKeep(first, sender)).toBe(1);
      rmSync(output);
      first.resume();
      expect(await exitOrKill(first.proc, EXIT_BOUND_MS)).toBe(1);
      const said = await first.stderr;
      expect(said).toContain(`${output}.ivsh-replaced, the file ${output} replaced, stays under that name`);
      expect(said).toContain(`${output} was removed after the keep`);
      expect(said).not.toContain("a file was put at"); // Before: said
      expect(readIfThere(`${output}.ivsh-replaced`)).toBe("the old contents");
    } finally {
      first.kill();
    }
  },
  60_000,
);
