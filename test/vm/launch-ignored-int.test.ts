/**
 * launch.sh --run started with SIGINT ignored (a script's `throughput.sh &`, whose launch.sh is a background
 * job in turn): a Ctrl-C meant for the terminal's foreground job must not end its VM. QEMU catches SIGINT
 * whatever it inherited, and ran in launch.sh's process group, so it stopped at once and launch.sh said
 * "the guest gave no result" (exit 125; throughput.sh exited 125 the same way). No timing: the guest says
 * "ready" once booted (QEMU's handlers are set by then), the test sends SIGINT to the group, and only then
 * lets the guest finish, through a forward that waits for a file the test creates after the signal.
 * Every way out of the test ends that forward and the VM (see goForward): the reaper, which kills a
 * spawned process's descendants, never finds the forward.
 */
import { expect } from "bun:test";
import { rmSync } from "node:fs";
import type { Subprocess } from "bun";
import { ending, goForward, lockOf, READY_GO_GUEST, vmSaid } from "../helpers/launch-job.ts";
import { exitOrKill } from "../helpers/processes.ts";
import { tracked } from "../helpers/reaper.ts";
import { testWithTool } from "../helpers/tools.ts";
import { ensureBinary, LAUNCH, vmName } from "./vm.ts";

/** Liveness bound only: a TCG boot on a loaded 2-core machine takes 4–9 s. */
const BOUND_MS = 120_000;

testWithTool(
  "qemu-system-x86_64",
  "launch.sh --run with SIGINT ignored: a Ctrl-C to its process group leaves its VM running to the end",
  async () => {
    await ensureBinary();
    const name = vmName("ignint");
    const { forward, go, remove } = goForward("ignint");
    let run: Subprocess<"ignore", "pipe", "pipe"> | undefined;
    try {
      run = tracked(
        Bun.spawn(
          ["sh", "-c", `trap '' INT; exec "$@"`, "sh", LAUNCH, "--name", name, "--region", "none"].concat([
            "--forward",
            forward,
            "--run",
            READY_GO_GUEST,
          ]),
          { stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true }, // a terminal job's own group
        ),
      );
      const out = vmSaid(run.stdout);
      await out.until("ready");
      process.kill(-run.pid, "SIGINT");
      go();
      expect(await ending(run, out, BOUND_MS)).toMatchObject({
        exitCode: 0,
        said: "ready\ngo\nfinished\n",
      });
    } finally {
      remove();
      // launch.sh ends its QEMU on SIGTERM (none if it has ended).
      run?.kill("SIGTERM");
      if (run) await exitOrKill(run, BOUND_MS);
      rmSync(lockOf(name), { force: true });
    }
  },
  BOUND_MS + 60_000,
);
