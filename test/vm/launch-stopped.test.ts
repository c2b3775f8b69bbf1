/**
 * launch.sh --run stopped from its terminal (Ctrl-Z: SIGTSTP to its process group) must stop its VM too, and
 * `fg` (SIGCONT to that group) continue it. QEMU runs in a process group of its own since 2a27f99 (timeout(1)'s
 * with --timeout), so the terminal's SIGTSTP stopped launch.sh but not the VM, which ran on until its output
 * pipe filled. No timing: the guest says "ready", the test stops the group and waits (liveness bound) for
 * QEMU, timeout(1) and launch.sh to be stopped, continues the group, waits for them to run, and only then
 * lets the guest finish through a forward that waits for a file the test creates.
 */
import { expect } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import {
  AS_JOB,
  ending,
  goForward,
  lockOf,
  READY_GO_GUEST,
  stateOf,
  sweepVm,
  vmSaid,
  WITH_AND_WITHOUT_TIMEOUT,
} from "../helpers/launch-job.ts";
import { exitOrKill } from "../helpers/processes.ts";
import { tracked } from "../helpers/reaper.ts";
import { testWithTool } from "../helpers/tools.ts";
import { ensureBinary, LAUNCH, vmName, vmProcesses } from "./vm.ts";

/** Liveness bound only: a TCG boot on a loaded 2-core machine takes 4–30 s. */
const BOUND_MS = 120_000;
/** Liveness bound only: a stop or a continue takes effect at once. */
const SIGNAL_BOUND_MS = 30_000;

/**
 * launch.sh as a terminal's job runs it: the leader of a process group of its own, in the session of its
 * parent (here the test). The kernel drops a SIGTSTP to a group none of whose members has a parent in its
 * session (an orphaned group; Bun's `detached` makes a session, and so one): no shell's job is such a group.
 */
/**
 * The VM's QEMU, and the timeout(1) running it with --timeout (not launch.sh and its subshells). Not a child
 * QEMU forked for a guestfwd command and not yet exec'd: it bears QEMU's command line for that moment (the CI
 * run of d87e2152, at load 12, counted 2 without --timeout).
 */
function qemuAndTimeout(name: string): number[] {
  const read = (path: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return undefined; // gone meanwhile
    }
  };
  return vmProcesses(name).filter((pid) => {
    const cmdline = read(`/proc/${pid}/cmdline`);
    const parent = read(`/proc/${pid}/stat`)?.split(") ")[1]?.split(" ")[1];
    if (cmdline === undefined || read(`/proc/${parent}/cmdline`) === cmdline) return false;
    return /(^|\/)(qemu-system-x86_64|timeout)$/.test(cmdline.split("\0")[0] ?? "");
  });
}

/** Waits, within the liveness bound, until every process in `pids` is stopped (or, `stopped` false, runs). */
async function untilStates(pids: number[], stopped: boolean): Promise<Record<number, string>> {
  const deadline = Date.now() + SIGNAL_BOUND_MS;
  const states = () => Object.fromEntries(pids.map((pid) => [pid, stateOf(pid)]));
  while (Object.values(states()).some((state) => (state === "T") !== stopped) && Date.now() < deadline)
    await Bun.sleep(100);
  return states();
}

for (const [how, extra] of WITH_AND_WITHOUT_TIMEOUT) {
  testWithTool(
    "qemu-system-x86_64",
    `launch.sh --run${how}: SIGTSTP to its process group stops its VM, SIGCONT continues it to the end`,
    async () => {
      await ensureBinary();
      const name = vmName("stopped");
      const { forward, go, remove } = goForward("stopped");
      const run = tracked(
        Bun.spawn(
          [
            ...AS_JOB,
            LAUNCH,
            "--name",
            name,
            "--region",
            "none",
            ...extra,
            "--forward",
            forward,
            "--run",
            READY_GO_GUEST,
          ],
          { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
        ),
      );
      try {
        const out = vmSaid(run.stdout);
        await out.until("ready");
        const vm = qemuAndTimeout(name);
        expect(vm.length).toBe(extra.length === 0 ? 1 : 2);
        process.kill(-run.pid, "SIGTSTP"); // as the terminal does on Ctrl-Z
        const all = [run.pid, ...vm];
        // Before: launch.sh "T", QEMU (and timeout) "S" or "R", running on.
        expect(await untilStates(all, true)).toEqual(Object.fromEntries(all.map((pid) => [pid, "T"])));
        process.kill(-run.pid, "SIGCONT"); // as `fg` does
        const running = await untilStates(all, false);
        expect(Object.values(running).filter((state) => state === "T" || state === "gone")).toEqual([]);
        go();
        expect(await ending(run, out, BOUND_MS)).toMatchObject({
          exitCode: 0,
          said: "ready\ngo\nfinished\n",
        });
      } finally {
        // Continued and stopped as Ctrl-C stops it, so that it removes its temp dir and lock (a SIGKILL would not).
        try {
          process.kill(-run.pid, "SIGCONT");
          run.kill("SIGTERM");
        } catch {} // gone already
        await exitOrKill(run, BOUND_MS);
        for (const pid of qemuAndTimeout(name)) process.kill(pid, "SIGKILL");
        remove();
        rmSync(lockOf(name), { force: true });
      }
    },
    4 * BOUND_MS,
  );
}

/**
 * Stopped by Ctrl-Z, then killed with its whole group (`kill -9 %1`): QEMU (stopped, its own session) got
 * its parent-death SIGTERM but stayed stopped for ever, nobody left to continue it, holding the VM's name
 * lock ("a VM named ... is already running" for every later launch of that name).
 */
testWithTool(
  "qemu-system-x86_64",
  "launch.sh --run stopped (SIGTSTP), then its group SIGKILLed: its stopped VM ends too",
  async () => {
    await ensureBinary();
    const name = vmName("stopkill");
    const run = tracked(
      Bun.spawn([...AS_JOB, LAUNCH, "--name", name, "--region", "none", "--run", "echo ready; sleep 900"], {
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      }),
    );
    let vm: number[] = [];
    try {
      await vmSaid(run.stdout).until("ready");
      vm = qemuAndTimeout(name);
      expect(vm.length).toBe(1);
      process.kill(-run.pid, "SIGTSTP");
      const all = [run.pid, ...vm];
      expect(await untilStates(all, true)).toEqual(Object.fromEntries(all.map((pid) => [pid, "T"])));
      process.kill(-run.pid, "SIGKILL"); // as `kill -9 %1`
      await exitOrKill(run, BOUND_MS);
      // Before: QEMU "T" for ever (its SIGTERM pending). A zombie ("Z") has ended, not yet reaped by init.
      const deadline = Date.now() + SIGNAL_BOUND_MS;
      const ended = () => vm.every((pid) => ["gone", "Z"].includes(stateOf(pid)));
      while (!ended() && Date.now() < deadline) await Bun.sleep(100);
      expect(Object.fromEntries(vm.map((pid) => [pid, stateOf(pid)]))).toEqual(
        Object.fromEntries(vm.map((pid) => [pid, expect.stringMatching(/^(gone|Z)$/)])),
      );
    } finally {
      try {
        process.kill(-run.pid, "SIGKILL");
      } catch {} // gone already
      await exitOrKill(run, BOUND_MS);
      sweepVm(name);
    }
  },
  4 * BOUND_MS,
);
