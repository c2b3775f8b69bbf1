/**
 * launch.sh --run as a job of a terminal or a CI runner: for the tests of what its process group's signals
 * (Ctrl-Z, Ctrl-C, kill -9 of the group) do to it and its VM. Reads what the guest says, lets the guest go
 * on when the test says, and removes what a launch.sh killed with its group leaves behind.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LAUNCH, vmProcesses } from "../vm/vm.ts";
import { REPO } from "./paths.ts";
import { exitOrKill } from "./processes.ts";
import { tracked } from "./reaper.ts";

/** launch.sh both ways: as is, and with --timeout (QEMU then runs under timeout(1), in a group of its own). */
export const WITH_AND_WITHOUT_TIMEOUT = [
  ["", []],
  [" --timeout 900", ["--timeout", "900"]],
] as const;

/** A guest that says "ready", waits for the forward on port 7780 to say "go" (see goForward), then ends. */
export const READY_GO_GUEST = "echo ready; nc 10.0.2.100 7780; echo finished";

/**
 * launch.sh's --forward for port 7780 that says "go" once `go()` is called (a flag file in a temp dir of
 * its own). It waits only while the flag may still come: `remove()` (a test's finally) removes its dir, and
 * a test timed out (no finally run) is a runner that ends. QEMU's guestfwd runs it outside QEMU's process
 * tree (reparented to init), so neither the reaper nor the VM's end stops it.
 */
export function goForward(label: string) {
  const dir = mkdtempSync(join(tmpdir(), `ivsh-test-${label}-`));
  const flag = join(dir, "go");
  const waiting = `[ -d ${dir} ] && kill -0 ${process.pid} || exit 1`;
  return {
    forward: `7780=sh -c 'while [ ! -e ${flag} ]; do ${waiting}; sleep 0.1; done; echo go'`,
    go: () => writeFileSync(flag, ""),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** What a VM's launch.sh says on `stdout`, read as the test asks: `said`, all of it so far. */
export function vmSaid(stdout: ReadableStream<Uint8Array>) {
  const reader = stdout.getReader();
  const decoder = new TextDecoder();
  const out = {
    said: "",
    /** Reads on until `word` has been said. */
    async until(word: string): Promise<void> {
      while (!out.said.includes(word)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the VM ended before it said "${word}": ${out.said}`);
        out.said += decoder.decode(value, { stream: true });
      }
    },
    /** Reads on to the end; returns all that was said. */
    async rest(): Promise<string> {
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
        out.said += decoder.decode(chunk.value, { stream: true });
      return out.said;
    },
  };
  return out;
}

/** How `run` ended (killed once `boundMs` passed: "late"), all its VM said, and its stderr. */
export async function ending(
  run: {
    exited: Promise<number>;
    kill(signal?: number | NodeJS.Signals): void;
    stderr: ReadableStream<Uint8Array>;
  },
  out: ReturnType<typeof vmSaid>,
  boundMs: number,
) {
  const said = await out.rest();
  const stderr = await new Response(run.stderr).text();
  return { exitCode: await exitOrKill(run, boundMs), said, stderr };
}

/** launch.sh --run SCRIPT (`extra` flags before it) in a process group of its own, as a CI job's. */
export function launchInGroup(name: string, script: string, extra: readonly string[] = []) {
  return tracked(
    Bun.spawn([LAUNCH, "--name", name, "--region", "none", ...extra, "--run", script], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      detached: true,
    }),
  );
}

/** The VM's processes (QEMU, timeout) still running once `boundMs` has passed or none is left. */
export async function leftAfter(name: string, boundMs: number): Promise<number[]> {
  const deadline = Date.now() + boundMs;
  while (vmProcesses(name).length > 0 && Date.now() < deadline) await Bun.sleep(100);
  return vmProcesses(name);
}

const tempBase = process.env.TMPDIR ?? tmpdir();

/** VM `name`'s launch.sh temp dirs ($TMPDIR/ivsh-vm.NAME.*), by entry name. */
export const tempDirsOf = (name: string) =>
  readdirSync(tempBase).filter((entry) => entry.startsWith(`ivsh-vm.${name}.`));

/** VM `name`'s name lock. */
export const lockOf = (name: string) => join(REPO, "build/qemu/run", `${name}.lock`);

/**
 * Ends VM `name`'s processes and removes its temp dirs and name lock: what a launch.sh killed with its group
 * leaves (its watchdog, which removes them, dies with it; the next launch.sh would sweep them).
 */
export function sweepVm(name: string): void {
  for (const pid of vmProcesses(name)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {} // gone already
  }
  rmSync(lockOf(name), { force: true });
  for (const entry of tempDirsOf(name)) rmSync(join(tempBase, entry), { recursive: true, force: true });
}

/** A command prefix that runs it as a job of its own (its own process group), as a shell with job control would. */
export const AS_JOB = ["perl", "-e", "setpgrp(0, 0); exec @ARGV or die $!"];

/** The process's state letter in /proc/PID/stat ("T" stopped, "t" stopped under strace), "gone" once it has exited. */
export function stateOf(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] ?? "?";
  } catch {
    return "gone";
  }
}
