/**
 * The region's directory made unsearchable under a running arbiter (a `chmod`, an ACL, a security profile
 * changed): the arbiter cannot look at its region file or wake-up file by name any more, which says nothing
 * about whether they are still there. The sweep read the region's EACCES as "removed or replaced" (an ERROR
 * and a problem in `ivsh status`, telling the operator to restart and lose the allocations), and the wake-up
 * file's lstat threw at every sweep (reported as a bug, the arbiter's exit 1 at its end). Neither may be
 * said of a file it merely cannot look at, as its socket's check already does not.
 */
import { afterAll, expect } from "bun:test";
import { existsSync } from "node:fs";
import { withRegionDirUnsearchable } from "./helpers/host-run.ts";
import { CLI, testPaths } from "./helpers/paths.ts";
import { testUnless, toolMissing } from "./helpers/tools.ts";

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0 ? undefined : "only root can run the arbiter as another user here";
const own = testPaths("region-dir-unsearchable");
afterAll(() => own.cleanup());

testUnless(
  asRoot ?? toolMissing("setpriv"),
  "the region's directory made unsearchable under the arbiter: nothing is called removed, no sweep throws",
  async () => {
    const { seen, rest, exitCode } = await withRegionDirUnsearchable(own, "searchable-then-not", NOBODY, {
      meanwhile: (socket, region) => {
        const status = Bun.spawnSync([process.execPath, CLI, "status", "--json", "--socket", socket]);
        // Made at the start, the directory searchable then (root sees it still).
        return {
          wake: existsSync(`${region}.wake`),
          problems: JSON.parse(status.stdout.toString()).problems,
        };
      },
    });
    expect(seen?.wake).toBe(true);
    const problems = seen?.problems;
    expect({ problems, exitCode }).toEqual({ problems: undefined, exitCode: 0 });
    expect(rest).not.toContain("removed or replaced");
    expect(rest).not.toContain("Failed to lstat");
  },
  60_000,
);
