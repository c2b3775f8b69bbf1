/**
 * launch.sh --run's whole process group SIGKILLed (a cancelled CI job, `kill -9 -PGID`): its QEMU ends (its
 * parent-death signal), but its watchdog dies with the group, so its temp dir ($TMPDIR/ivsh-vm.NAME.*) and
 * its name lock (build/qemu/run/NAME.lock) stayed, one of each per such run, for ever. The next launch.sh
 * removes them; a live VM's own, and those of launches running at the same time, it leaves alone.
 * No timing: each guest says "up" once its command runs (launch.sh has its dir and lock by then).
 */
import { expect } from "bun:test";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { notRoot } from "../helpers/as-nobody.ts";
import { REPO } from "../helpers/paths.ts";
import { exitOrKill } from "../helpers/processes.ts";
import { tracked } from "../helpers/reaper.ts";
import { testUnless, testWithTool, toolMissing } from "../helpers/tools.ts";
import { ensureBinary, LAUNCH, vmName, vmProcesses } from "./vm.ts";

/** Liveness bound only: a TCG boot on a loaded 2-core machine takes 4–30 s; QEMU ends at once on SIGTERM. */
const BOUND_MS = 120_000;

const base = process.env.TMPDIR ?? tmpdir();
const tempDirsOf = (name: string) =>
  readdirSync(base).filter((entry) => entry.startsWith(`ivsh-vm.${name}.`));
const lockOf = (name: string) => join(REPO, "build/qemu/run", `${name}.lock`);

/** launch.sh --run SCRIPT in a process group of its own (as a CI job's), stdout piped. */
function launch(name: string, script: string) {
  return tracked(
    Bun.spawn([LAUNCH, "--name", name, "--region", "none", "--run", script], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      detached: true,
    }),
  );
}

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

/** The VM's processes still running once `boundMs` has passed or none is left. */
async function leftAfter(name: string, boundMs: number): Promise<number[]> {
  const deadline = Date.now() + boundMs;
  while (vmProcesses(name).length > 0 && Date.now() < deadline) await Bun.sleep(100);
  return vmProcesses(name);
}

testWithTool(
  "qemu-system-x86_64",
  "launch.sh after another's process group was SIGKILLed: the dead one's temp dir and lock go, live ones' stay",
  async () => {
    await ensureBinary();
    const [killed, live, next1, next2] = ["killed", "live", "next", "next"].map(vmName);
    const killedRun = launch(killed!, "echo up; sleep 900");
    const liveRun = launch(live!, "echo up; sleep 900");
    try {
      await Promise.all([until(killedRun.stdout, "up"), until(liveRun.stdout, "up")]);
      process.kill(-killedRun.pid, "SIGKILL");
      expect(await exitOrKill(killedRun, BOUND_MS)).not.toBe("late");
      expect(await leftAfter(killed!, BOUND_MS)).toEqual([]);
      // What the group's SIGKILL left.
      expect({ dirs: tempDirsOf(killed!).length, lock: existsSync(lockOf(killed!)) }).toEqual({
        dirs: 1,
        lock: true,
      });
      const liveDirs = tempDirsOf(live!);
      expect({ dirs: liveDirs.length, lock: existsSync(lockOf(live!)) }).toEqual({ dirs: 1, lock: true });

      // Two launches at once: neither may take the other's lock or dir for a stale one.
      const [first, second] = [launch(next1!, "echo one"), launch(next2!, "echo two")];
      const outputs = [first, second].map((run) => new Response(run.stdout).text());
      const errors = [first, second].map((run) => new Response(run.stderr).text());
      const codes = await Promise.all([exitOrKill(first, BOUND_MS), exitOrKill(second, BOUND_MS)]);
      const said = codes.every((code) => code === 0) ? [] : await Promise.all(errors); // why, should one fail
      expect({ codes, outputs: await Promise.all(outputs), said }).toEqual({
        codes: [0, 0],
        outputs: ["one\n", "two\n"],
        said: [],
      });

      // Before: the killed VM's dir and lock still there.
      expect({ dirs: tempDirsOf(killed!), lock: existsSync(lockOf(killed!)) }).toEqual({
        dirs: [],
        lock: false,
      });
      // The live VM's are untouched, and it runs on to its end.
      expect({ dirs: tempDirsOf(live!), lock: existsSync(lockOf(live!)) }).toEqual({
        dirs: liveDirs,
        lock: true,
      });
      liveRun.kill("SIGTERM");
      expect(await exitOrKill(liveRun, BOUND_MS)).toBe(143);
      expect({ dirs: tempDirsOf(live!), lock: existsSync(lockOf(live!)) }).toEqual({ dirs: [], lock: false });
    } finally {
      liveRun.kill("SIGTERM");
      await exitOrKill(liveRun, BOUND_MS);
      for (const name of [killed!, live!]) {
        for (const pid of vmProcesses(name)) process.kill(pid, "SIGKILL");
        rmSync(lockOf(name), { force: true });
        for (const entry of tempDirsOf(name)) rmSync(join(base, entry), { recursive: true, force: true });
      }
    }
  },
  4 * BOUND_MS,
);

testUnless(
  notRoot ?? toolMissing("qemu-system-x86_64"),
  "launch.sh with a read-only build/qemu/run: refused in its own words, exit 125",
  async () => {
    // A copy of the scripts (launch.sh finds build/qemu beside them), an image of two non-empty files.
    const checkout = mkdtempSync(join(base, "ivsh-ro-run-"));
    const run = join(checkout, "build/qemu/run");
    try {
      mkdirSync(join(checkout, "scripts/qemu"), { recursive: true });
      for (const script of ["launch.sh", "accel.sh", "stale.sh"])
        copyFileSync(join(REPO, "scripts/qemu", script), join(checkout, "scripts/qemu", script));
      mkdirSync(run, { recursive: true });
      for (const file of ["vmlinuz", "initramfs.cpio"])
        writeFileSync(join(checkout, "build/qemu", file), "x");
      const mounted = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "ivsh-ro-run", run]);
      expect(mounted.exitCode).toBe(0);
      const launched = Bun.spawn(
        [join(checkout, "scripts/qemu/launch.sh"), "--name", vmName("ro"), "--region", "none"].concat([
          "--accel",
          "tcg",
          "--no-build",
          "--run",
          "true",
        ]),
        { stdin: "ignore", stdout: "ignore", stderr: "pipe" },
      );
      const stderr = await new Response(launched.stderr).text();
      // Before: exit 1, "launch.sh: line 227: .../build/qemu/run/.sweep: Read-only file system".
      expect({ code: await exitOrKill(launched, BOUND_MS), stderr }).toEqual({
        code: 125,
        stderr: `launch.sh: error: ${run} is not writable by root: it holds the name locks of this checkout's VMs; make it writable (or a link to a writable directory)\n`,
      });
    } finally {
      Bun.spawnSync(["umount", "-l", run]);
      rmSync(checkout, { recursive: true, force: true });
    }
  },
  BOUND_MS,
);
