/**
 * launch.sh --run's process group SIGKILLed (a cancelled CI job, `kill -9 -PGID`): its QEMU is not in that
 * group (setsid since 2a27f99, so that a Ctrl-C for the terminal's foreground job leaves it be; timeout(1)'s
 * own group with --timeout), and its watchdog dies with the group, so the VM ran on with nobody to stop it,
 * its output lost, for ever with a guest command that does not end. It must end with launch.sh.
 * No timing: the guest says "up" once its command runs (QEMU runs by then); then the group is killed, and
 * QEMU's end is waited for within a liveness bound.
 */
import { expect } from "bun:test";
import {
  launchInGroup,
  leftAfter,
  sweepVm,
  vmSaid,
  WITH_AND_WITHOUT_TIMEOUT,
} from "../helpers/launch-job.ts";
import { exitOrKill } from "../helpers/processes.ts";
import { testWithTool } from "../helpers/tools.ts";
import { ensureBinary, vmName } from "./vm.ts";

/** Liveness bound only: a TCG boot on a loaded 2-core machine takes 4–30 s; QEMU ends at once on SIGTERM. */
const BOUND_MS = 120_000;

for (const [how, extra] of WITH_AND_WITHOUT_TIMEOUT) {
  testWithTool(
    "qemu-system-x86_64",
    `launch.sh --run${how}: its process group killed with SIGKILL, its QEMU ends too`,
    async () => {
      await ensureBinary();
      const name = vmName("groupkill");
      const run = launchInGroup(name, "echo up; sleep 900", extra);
      try {
        await vmSaid(run.stdout).until("up");
        process.kill(-run.pid, "SIGKILL");
        expect(await exitOrKill(run, BOUND_MS)).not.toBe("late");
        // Before: QEMU (and timeout) still running, reparented, until the guest's `sleep 900` ended.
        expect(await leftAfter(name, BOUND_MS)).toEqual([]);
      } finally {
        // The watchdog that removes its temp dir and lock died with the group.
        sweepVm(name);
      }
    },
    3 * BOUND_MS,
  );
}
