/**
 * launch.sh's one running VM per name: a second launch of a running name is refused (exit 125, naming the
 * lock), and the lock file goes with its VM, so that build/qemu/run does not keep one file for every name
 * ever launched (each test run names its VMs after its pid, and left a dozen more every time).
 */
import { expect } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "../helpers/paths.ts";
import { exitOrKill } from "../helpers/processes.ts";
import { testWithTool } from "../helpers/tools.ts";
import { ensureBinary, LAUNCH, vmName } from "./vm.ts";

const BOUND_MS = 120_000;

function launch(name: string, script: string) {
  const proc = Bun.spawn([LAUNCH, "--name", name, "--region", "none", "--timeout", "100", "--run", script], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const stderr = new Response(proc.stderr).text();
  return { proc, stderr };
}

testWithTool(
  "qemu-system-x86_64",
  "a second VM of a running name exits 125 naming the lock; the lock file goes with the VM; the name is free again",
  async () => {
    await ensureBinary();
    const name = vmName("lock");
    const lock = join(REPO, "build/qemu/run", `${name}.lock`);
    // The first VM's guest says "up" once it runs: by then launch.sh holds the name. It then runs until
    // stopped (a sleep of seconds was a race: a second launch.sh slower than that found the name free).
    const first = launch(name, "echo up; sleep 600");
    try {
      const reader = first.proc.stdout.getReader();
      // Read until the word is there: it may come split over chunks, or after other output.
      let said = "";
      const decoder = new TextDecoder();
      while (!said.includes("up")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the first VM ended before it said "up": ${said}`);
        said += decoder.decode(value, { stream: true });
      }
      const second = launch(name, "true");
      expect(await exitOrKill(second.proc, BOUND_MS)).toBe(125);
      expect(await second.stderr).toContain(
        `launch.sh: error: a VM named '${name}' is already running (lock ${lock})`,
      );
      reader.releaseLock();
      // Stopped as Ctrl-C or a supervisor stops it: the lock file goes on that way out too.
      first.proc.kill("SIGTERM");
      expect(await exitOrKill(first.proc, BOUND_MS)).toBe(143);
      expect(existsSync(lock)).toBe(false);
    } finally {
      // launch.sh stops its QEMU on SIGTERM; a VM left running would hold the name for its --timeout.
      first.proc.kill("SIGTERM");
      await first.proc.exited;
    }
    const third = launch(name, "true");
    expect(await exitOrKill(third.proc, BOUND_MS)).toBe(0);
    expect(existsSync(lock)).toBe(false);
  },
  3 * BOUND_MS,
);
