/**
 * The region's directory made unsearchable under a running arbiter (a `chmod`, an ACL, a security profile
 * changed): the arbiter cannot look at its region file or wake-up file by name any more, which says nothing
 * about whether they are still there. The sweep read the region's EACCES as "removed or replaced" (an ERROR
 * and a problem in `ivsh status`, telling the operator to restart and lose the allocations), and the wake-up
 * file's lstat threw at every sweep (reported as a bug, the arbiter's exit 1 at its end). Neither may be
 * said of a file it merely cannot look at, as its socket's check already does not.
 */
import { afterAll, expect } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { asParentOfArbiter } from "../src/host/parent.ts";
import { CLI, testPaths } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, exitOrKill, readUntil } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { testUnless, toolMissing } from "./helpers/tools.ts";

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0 ? undefined : "only root can run the arbiter as another user here";
const own = testPaths("region-dir-unsearchable");
afterAll(() => own.cleanup());

testUnless(
  asRoot ?? toolMissing("setpriv"),
  "the region's directory made unsearchable under the arbiter: nothing is called removed, no sweep throws",
  async () => {
    const regionDir = join(own.shmDir, "searchable-then-not");
    const runDir = join(own.dir, "run");
    for (const dir of [regionDir, runDir]) {
      mkdirSync(dir, { mode: 0o755 });
      chownSync(dir, NOBODY, NOBODY);
    }
    for (const dir of [own.shmDir, own.dir]) chmodSync(dir, 0o711);
    const region = join(regionDir, "region");
    writeFileSync(region, new Uint8Array(1 << 20), { mode: 0o600 });
    chownSync(region, NOBODY, NOBODY);
    const socket = join(runDir, "s.sock");
    const host = tracked(
      Bun.spawn(
        [
          ...["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", process.execPath, CLI],
          ...["host", "--exit-with-parent", "--region", region, "--socket", socket],
          ...["--state", join(runDir, "state"), "--size", "1MiB", "--lease", "1s"],
        ],
        { stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", ...asParentOfArbiter() } },
      ),
    );
    expect(await readUntil(host.stderr, "arbiter serving")).toContain("arbiter serving");
    expect(existsSync(`${region}.wake`)).toBe(true);
    chmodSync(regionDir, 0);
    let problems: unknown;
    try {
      await Bun.sleep(1500); // six sweeps at a 1 s lease, each looking at both files by name
      const status = Bun.spawnSync([process.execPath, CLI, "status", "--json", "--socket", socket]);
      problems = JSON.parse(status.stdout.toString()).problems;
    } finally {
      chmodSync(regionDir, 0o755);
    }
    host.kill("SIGTERM");
    const [exitCode, rest] = await Promise.all([
      exitOrKill(host, EXIT_BOUND_MS),
      readUntil(host.stderr, () => false), // to its end
    ]);
    expect({ problems, exitCode }).toEqual({ problems: undefined, exitCode: 0 });
    expect(rest).not.toContain("removed or replaced");
    expect(rest).not.toContain("Failed to lstat");
  },
  60_000,
);
