/**
 * launch.sh --run started with SIGINT ignored (a script's `throughput.sh &`, whose launch.sh is a background
 * job in turn): a Ctrl-C meant for the terminal's foreground job must not end its VM. QEMU catches SIGINT
 * whatever it inherited, and ran in launch.sh's process group, so it stopped at once and launch.sh said
 * "the guest gave no result" (exit 125; throughput.sh exited 125 the same way). No timing: the guest says
 * "ready" once booted (QEMU's handlers are set by then), the test sends SIGINT to the group, and only then
 * lets the guest finish, through a forward that waits for a file the test creates after the signal.
 * Every way out of the test ends that forward and the VM: a forward's command is run by QEMU's guestfwd
 * outside QEMU's process tree (reparented to init), so the reaper, which kills a spawned process's
 * descendants, never finds it; it polled for ever after a failure before the flag was created.
 */
import { expect } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { REPO } from "../helpers/paths.ts";
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
    const dir = mkdtempSync(join(tmpdir(), "ivsh-test-ignint-"));
    const flag = join(dir, "go");
    let run: Subprocess<"ignore", "pipe", "pipe"> | undefined;
    try {
      // Waits only while the flag may still come: the finally below removes its dir, and a test timed out
      // (no finally run) is a runner that ends.
      const waiting = `[ -d ${dir} ] && kill -0 ${process.pid} || exit 1`;
      const forward = `7780=sh -c 'while [ ! -e ${flag} ]; do ${waiting}; sleep 0.1; done; echo go'`;
      const guest = "echo ready; nc 10.0.2.100 7780; echo finished";
      run = tracked(
        Bun.spawn(
          ["sh", "-c", `trap '' INT; exec "$@"`, "sh", LAUNCH, "--name", name, "--region", "none"].concat([
            "--forward",
            forward,
            "--run",
            guest,
          ]),
          { stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true }, // a terminal job's own group
        ),
      );
      const reader = run.stdout.getReader();
      const decoder = new TextDecoder();
      let said = "";
      while (!said.includes("ready")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the VM ended before it said "ready": ${said}`);
        said += decoder.decode(value, { stream: true });
      }
      process.kill(-run.pid, "SIGINT");
      writeFileSync(flag, "");
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
        said += decoder.decode(chunk.value, { stream: true });
      const stderr = await new Response(run.stderr).text();
      expect({ exitCode: await exitOrKill(run, BOUND_MS), said, stderr }).toMatchObject({
        exitCode: 0,
        said: "ready\ngo\nfinished\n",
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
      // launch.sh ends its QEMU on SIGTERM (none if it has ended).
      run?.kill("SIGTERM");
      if (run) await exitOrKill(run, BOUND_MS);
      rmSync(join(REPO, "build/qemu/run", `${name}.lock`), { force: true });
    }
  },
  BOUND_MS + 60_000,
);
