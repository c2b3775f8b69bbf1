/**
 * launch.sh --run's process group SIGKILLed (a cancelled CI job, `kill -9 -PGID`): its QEMU is not in that
 * group (setsid since 2a27f99, so that a Ctrl-C for the terminal's foreground job leaves it be; timeout(1)'s
 * own group with --timeout), and its watchdog dies with the group, so the VM ran on with nobody to stop it,
 * its output lost, for ever with a guest command that does not end. It must end with launch.sh.
 * No timing: the guest says "up" once its command runs (QEMU runs by then); then the group is killed, and
 * QEMU's end is waited for within a liveness bound.
 */
import { expect } from "bun:test";
import { readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO } from "../helpers/paths.ts";
import { exitOrKill } from "../helpers/processes.ts";
import { tracked } from "../helpers/reaper.ts";
import { testWithTool } from "../helpers/tools.ts";
import { ensureBinary, LAUNCH, vmName, vmProcesses } from "./vm.ts";

/** Liveness bound only: a TCG boot on a loaded 2-core machine takes 4–30 s; QEMU ends at once on SIGTERM. */
const BOUND_MS = 120_000;

/** Reads the process's stdout until it has said `word`. */
async function until(stdout: ReadableStream<Uint8Array>, word: string): Promise<void> {
  const decoder = new TextDecoder();
  let said = "";
  for await (const chunk of stdout) {
    said += decoder.decode(chunk, { stream: true });
    if (said.includes(word)) return;
  }
  throw new Error(`the VM ended before it said "${word}": ${said}`);
}

/** The VM's processes still running (QEMU, timeout) once `boundMs` has passed or none is left. */
async function leftAfter(name: string, boundMs: number): Promise<number[]> {
  const deadline = Date.now() + boundMs;
  while (vmProcesses(name).length > 0 && Date.now() < deadline) await Bun.sleep(100);
  return vmProcesses(name);
}

for (const [how, extra] of [
  ["", []],
  [" --timeout 900", ["--timeout", "900"]],
] as const) {
  testWithTool(
    "qemu-system-x86_64",
    `launch.sh --run${how}: its process group killed with SIGKILL, its QEMU ends too`,
    async () => {
      await ensureBinary();
      const name = vmName("groupkill");
      const run = tracked(
        Bun.spawn([LAUNCH, "--name", name, "--region", "none", ...extra, "--run", "echo up; sleep 900"], {
          stdin: "ignore",
          stdout: "pipe",
          stderr: "ignore",
          detached: true, // a group of its own, as a job's
        }),
      );
      try {
        await until(run.stdout, "up");
        process.kill(-run.pid, "SIGKILL");
        expect(await exitOrKill(run, BOUND_MS)).not.toBe("late");
        // Before: QEMU (and timeout) still running, reparented, until the guest's `sleep 900` ended.
        expect(await leftAfter(name, BOUND_MS)).toEqual([]);
      } finally {
        for (const pid of vmProcesses(name)) process.kill(pid, "SIGKILL");
        rmSync(join(REPO, "build/qemu/run", `${name}.lock`), { force: true });
        // The watchdog that removes it died with the group.
        const base = process.env.TMPDIR ?? tmpdir();
        for (const entry of readdirSync(base).filter((each) => each.startsWith(`ivsh-vm.${name}.`)))
          rmSync(join(base, entry), { recursive: true, force: true });
      }
    },
    3 * BOUND_MS,
  );
}
