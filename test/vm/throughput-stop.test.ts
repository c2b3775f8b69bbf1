/**
 * scripts/qemu/throughput.sh stopped by a SIGTERM of its own (`kill PID`, not its process group): it must
 * stop its VM before it exits. launch.sh ran in the foreground, so the cleanup ran at once, removed the
 * region and stopped the arbiter under a VM that ran on, launch.sh and QEMU orphaned, until the guest's
 * script ended. No timing: the signal goes once launch.sh has printed QEMU's command line, and QEMU is
 * looked for when throughput.sh has exited.
 */
import { expect } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "../helpers/paths.ts";
import { exitOrKill } from "../helpers/processes.ts";
import { tracked } from "../helpers/reaper.ts";
import { testWithTool } from "../helpers/tools.ts";
import { ensureBinary } from "./vm.ts";

const BOUND_MS = 120_000;

/** Live processes whose command line holds `-name NAME` (launch.sh's QEMU) or launch.sh's `--name NAME`. */
function vmProcesses(name: string): string[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((pid) => {
      try {
        if (readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z")) return [];
        const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
        const named = ["-name", "--name"].some((flag) => {
          const at = argv.indexOf(flag);
          return at >= 0 && argv[at + 1] === name;
        });
        return named ? [`${pid} ${argv.slice(0, 2).join(" ")}`] : [];
      } catch {
        return [];
      }
    });
}

testWithTool(
  "qemu-system-x86_64",
  "throughput.sh stopped by SIGTERM stops its VM (QEMU and launch.sh) before it exits",
  async () => {
    await ensureBinary();
    const run = tracked(
      Bun.spawn(["bash", join(REPO, "scripts/qemu/throughput.sh"), "--runs", "1", "--size", "1M"], {
        stdin: "ignore",
        stdout: "ignore",
        stderr: "pipe",
      }),
    );
    const name = `tp${run.pid}`;
    let stderr = "";
    const decoder = new TextDecoder();
    const reader = run.stderr.getReader();
    while (!stderr.includes(`qemu-system-x86_64 -name ${name}`)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`throughput.sh ended before launching its VM: ${stderr}`);
      stderr += decoder.decode(value, { stream: true });
    }
    run.kill("SIGTERM");
    expect(await exitOrKill(run, BOUND_MS)).toBe(143);
    expect(vmProcesses(name)).toEqual([]);
    expect(readdirSync("/tmp").filter((entry) => entry.startsWith(`ivsh-vm.${name}.`))).toEqual([]);
  },
  BOUND_MS + 60_000,
);
