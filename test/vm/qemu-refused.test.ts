/**
 * launch.sh --run when QEMU exits before it opens the guest's output FIFOs (it refuses its command line:
 * here an option it does not know, as an older QEMU or a mistyped --qemu-arg gives it): launch.sh must exit
 * 125 with QEMU's words and its own. It hung for ever: its readers of those FIFOs stayed blocked in open(),
 * and it waited for them (so `ivsh bench --vm` waited out its round's timeout, minutes).
 */
import { expect } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "../helpers/paths.ts";
import { exitOrKill } from "../helpers/processes.ts";
import { testWithTool } from "../helpers/tools.ts";
import { ensureBinary, LAUNCH, vmName } from "./vm.ts";

/** A liveness bound: the refusal takes well under a second, the hang never ended. */
const BOUND_MS = 60_000;

testWithTool(
  "qemu-system-x86_64",
  "a QEMU that refuses its command line: launch.sh --run exits 125 saying so, with or without --separate-stderr",
  async () => {
    await ensureBinary();
    for (const split of [[], ["--separate-stderr"]]) {
      const name = vmName("refused");
      const proc = Bun.spawn(
        [
          LAUNCH,
          "--name",
          name,
          "--region",
          "none",
          ...split,
          "--qemu-arg",
          "-no-such-option",
          "--run",
          "true",
        ],
        { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
      );
      const stderr = new Response(proc.stderr).text();
      const code = await exitOrKill(proc, BOUND_MS);
      const said = await stderr;
      expect({ split, code }).toEqual({ split, code: 125 });
      expect(said).toContain("-no-such-option: invalid option");
      expect(said).toContain(`launch.sh: ${name}: the guest gave no result (QEMU exit 1`);
      expect(existsSync(join(REPO, "build/qemu/run", `${name}.lock`))).toBe(false);
    }
  },
  3 * BOUND_MS,
);
