/**
 * launch.sh --run's whole process group SIGKILLed (a cancelled CI job, `kill -9 -PGID`): its QEMU ends (its
 * parent-death signal), but its watchdog dies with the group, so its temp dir ($TMPDIR/ivsh-vm.NAME.*) and
 * its name lock (build/qemu/run/NAME.lock) stayed, one of each per such run, for ever. The next launch.sh
 * removes them; a live VM's own, and those of launches running at the same time, it leaves alone.
 * No timing: each guest says "up" once its command runs (launch.sh has its dir and lock by then). A stale
 * dir that cannot be removed (a file in it immutable) is warned about, by each launch.sh that finds it.
 */
import { expect } from "bun:test";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { notRoot } from "../helpers/as-nobody.ts";
import { launchInGroup, leftAfter, lockOf, sweepVm, tempDirsOf, vmSaid } from "../helpers/launch-job.ts";
import { REPO } from "../helpers/paths.ts";
import { exitOrKill } from "../helpers/processes.ts";
import { tracked } from "../helpers/reaper.ts";
import { testUnless, testWithTool, toolMissing } from "../helpers/tools.ts";
import { ensureBinary, vmName } from "./vm.ts";

/** Liveness bound only: a TCG boot on a loaded 2-core machine takes 4–30 s; QEMU ends at once on SIGTERM. */
const BOUND_MS = 120_000;

const base = process.env.TMPDIR ?? tmpdir();
/**
 * A copy of the scripts (launch.sh finds build/qemu beside them) in a new dir under TMPDIR, with an image
 * of two non-empty files (QEMU refuses to boot it at once: no VM): the checkout, and its build/qemu/run.
 */
function scriptCheckout(prefix: string): { checkout: string; run: string } {
  const checkout = mkdtempSync(join(base, prefix));
  const run = join(checkout, "build/qemu/run");
  mkdirSync(join(checkout, "scripts/qemu"), { recursive: true });
  for (const script of ["launch.sh", "accel.sh", "stale.sh"])
    copyFileSync(join(REPO, "scripts/qemu", script), join(checkout, "scripts/qemu", script));
  mkdirSync(run, { recursive: true });
  for (const file of ["vmlinuz", "initramfs.cpio"]) writeFileSync(join(checkout, "build/qemu", file), "x");
  return { checkout, run };
}

/** The copy's launch.sh, on no VM image worth booting, `env` added; stderr piped. */
function launchCopy(checkout: string, name: string, env: Record<string, string> = {}) {
  const args = ["--name", name, "--region", "none", "--accel", "tcg", "--no-build", "--run", "true"];
  return tracked(
    Bun.spawn([join(checkout, "scripts/qemu/launch.sh"), ...args], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, ...env },
    }),
  );
}

testWithTool(
  "qemu-system-x86_64",
  "launch.sh after another's process group was SIGKILLed: the dead one's temp dir and lock go, live ones' stay",
  async () => {
    await ensureBinary();
    const [killed, live, next1, next2] = ["killed", "live", "next", "next"].map(vmName);
    const killedRun = launchInGroup(killed!, "echo up; sleep 900");
    const liveRun = launchInGroup(live!, "echo up; sleep 900");
    try {
      await Promise.all([vmSaid(killedRun.stdout).until("up"), vmSaid(liveRun.stdout).until("up")]);
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
      const [first, second] = [launchInGroup(next1!, "echo one"), launchInGroup(next2!, "echo two")];
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
      for (const name of [killed!, live!]) sweepVm(name);
    }
  },
  4 * BOUND_MS,
);

testUnless(
  notRoot ?? toolMissing("qemu-system-x86_64"),
  "launch.sh with a read-only build/qemu/run: refused in its own words, exit 125",
  async () => {
    const { checkout, run } = scriptCheckout("ivsh-ro-run-");
    try {
      const mounted = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "ivsh-ro-run", run]);
      expect(mounted.exitCode).toBe(0);
      const launched = launchCopy(checkout, vmName("ro"));
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

/**
 * In `checkout`'s temp base, a launch.sh's temp dir whose owner is gone (no process started at tick 1 of
 * the boot), a file "stuck" in it, besides one other; `owner`: false for a dir without its owner file.
 */
function staleDir(checkout: string, owner = true): { temp: string; stale: string; stuck: string } {
  const temp = join(checkout, "tmp");
  const stale = join(temp, "ivsh-vm.gone.abcdef");
  const stuck = join(stale, "stuck");
  mkdirSync(stale, { recursive: true });
  const namespace = Bun.spawnSync(["readlink", "/proc/self/ns/pid"]).stdout.toString().trim();
  if (owner) writeFileSync(join(stale, "owner"), `999999 1 ${namespace}\n`);
  writeFileSync(join(stale, "bridge"), "");
  writeFileSync(stuck, "");
  return { temp, stale, stuck };
}

/** The copy's launch.sh run to its end (QEMU refuses the image); its stderr. */
async function launchedCopySays(
  checkout: string,
  temp: string,
  env: Record<string, string> = {},
): Promise<string> {
  const launched = launchCopy(checkout, vmName("stuck"), { ...env, TMPDIR: temp });
  const stderr = await new Response(launched.stderr).text();
  expect(await exitOrKill(launched, BOUND_MS)).not.toBe("late");
  // Gone on to QEMU, which refused the image: launch.sh's words after it.
  expect(stderr).toContain("the guest gave no result (QEMU exit");
  return stderr;
}

const cannotRemove = (stale: string, stuck: string) =>
  `launch.sh: warning: could not remove ${stale}, the temp dir of a launch.sh that is gone (rm: cannot remove '${stuck}': Operation not permitted): remove it yourself (chattr -i -a what is in it first, as root, if it is immutable or append-only)`;

const warnings = (stderr: string) => stderr.split("\n").filter((line) => line.includes("warning"));

testUnless(
  notRoot ?? toolMissing("qemu-system-x86_64") ?? toolMissing("chattr"),
  "launch.sh finding a stale temp dir it cannot remove (a file in it immutable): warned, named, the launch goes on, the sweep lock let go",
  async () => {
    const { checkout, run } = scriptCheckout("ivsh-lo11-stuck-");
    const { temp, stale, stuck } = staleDir(checkout);
    try {
      expect(Bun.spawnSync(["chattr", "+i", stuck]).exitCode).toBe(0);
      const stderr = await launchedCopySays(checkout, temp);
      // Before: exit 1, its only words "rm: cannot remove '.../stuck': Operation not permitted".
      expect(stderr).toContain(cannotRemove(stale, stuck));
      // The sweep lock is free: a later launch.sh takes it.
      const sweep = join(run, ".sweep");
      expect(Bun.spawnSync(["flock", "-n", sweep, "true"]).exitCode).toBe(0);
    } finally {
      Bun.spawnSync(["chattr", "-i", stuck]);
      rmSync(checkout, { recursive: true, force: true });
    }
  },
  BOUND_MS,
);

testUnless(
  notRoot ?? toolMissing("qemu-system-x86_64") ?? toolMissing("chattr"),
  "each later launch.sh warns once about a stale temp dir it cannot remove, not only the first; once it can, the dir goes",
  async () => {
    const { checkout } = scriptCheckout("ivsh-lo13-again-");
    const { temp, stale, stuck } = staleDir(checkout);
    try {
      expect(Bun.spawnSync(["chattr", "+i", stuck]).exitCode).toBe(0);
      const first = await launchedCopySays(checkout, temp);
      const second = await launchedCopySays(checkout, temp);
      // Before: the second said nothing (the first's rm -rf had taken the owner file: a dir without one is left).
      expect({ first: warnings(first), second: warnings(second) }).toEqual({
        first: [cannotRemove(stale, stuck)],
        second: [cannotRemove(stale, stuck)],
      });
      expect(readdirSync(stale).sort()).toEqual(["owner", "stuck"]);
      expect(Bun.spawnSync(["chattr", "-i", stuck]).exitCode).toBe(0);
      expect(warnings(await launchedCopySays(checkout, temp))).toEqual([]);
      expect(existsSync(stale)).toBe(false);
    } finally {
      Bun.spawnSync(["chattr", "-i", stuck]);
      rmSync(checkout, { recursive: true, force: true });
    }
  },
  3 * BOUND_MS,
);

testUnless(
  notRoot ?? toolMissing("qemu-system-x86_64") ?? toolMissing("chattr"),
  "a temp dir without its owner file is warned about if a file in it is immutable (left so by an earlier launch.sh), else left in silence",
  async () => {
    const { checkout } = scriptCheckout("ivsh-lo13-ownerless-");
    const { temp, stale, stuck } = staleDir(checkout, false);
    // A launch.sh's from before it wrote owner files (still running, perhaps): nothing in it is immutable.
    const older = join(temp, "ivsh-vm.older.abcdef");
    mkdirSync(older);
    writeFileSync(join(older, "bridge"), "");
    try {
      expect(Bun.spawnSync(["chattr", "+i", stuck]).exitCode).toBe(0);
      // Before: nothing said, the dir as it was.
      expect(warnings(await launchedCopySays(checkout, temp))).toEqual([cannotRemove(stale, stuck)]);
      expect({ stale: readdirSync(stale), older: readdirSync(older) }).toEqual({
        stale: ["stuck"],
        older: ["bridge"],
      });
    } finally {
      Bun.spawnSync(["chattr", "-i", stuck]);
      rmSync(checkout, { recursive: true, force: true });
    }
  },
  BOUND_MS,
);

/**
 * Two checkouts (each its own run dir, so its own sweep lock) sharing one TMPDIR sweep the same stale dir at
 * once: what the other takes first is gone when this one's find or rmdir comes to it. Made certain, not
 * timed: `tool` is a wrapper on PATH that removes the stale dir (as the other launch.sh does) and then runs.
 */
async function sweptMeanwhile(tool: "find" | "rmdir"): Promise<{ said: string[]; left: boolean }> {
  const { checkout } = scriptCheckout(`ivsh-lo13-raced-${tool}-`);
  const { temp, stale } = staleDir(checkout);
  const bin = join(checkout, "bin");
  mkdirSync(bin);
  const wrapper = join(bin, tool);
  writeFileSync(
    wrapper,
    `#!/bin/sh\ncase "$*" in *${stale}*) rm -rf -- ${stale} ;; esac\nexec ${Bun.which(tool)} "$@"\n`,
  );
  chmodSync(wrapper, 0o755);
  try {
    const stderr = await launchedCopySays(checkout, temp, { PATH: `${bin}:${process.env.PATH}` });
    return { said: warnings(stderr), left: existsSync(stale) };
  } finally {
    rmSync(checkout, { recursive: true, force: true });
  }
}

testWithTool(
  "qemu-system-x86_64",
  "a stale temp dir another checkout's launch.sh removes at the same time is no warning",
  async () => {
    // Before: "launch.sh: warning: could not remove .../ivsh-vm.gone.abcdef, ... (find: ‘...’: No such file
    // or directory): remove it yourself", and the same in rmdir's words: a dir already gone.
    const raced = { find: await sweptMeanwhile("find"), rmdir: await sweptMeanwhile("rmdir") };
    const quietlyGone = { said: [], left: false };
    expect(raced).toEqual({ find: quietlyGone, rmdir: quietlyGone });
  },
  2 * BOUND_MS,
);

testUnless(
  toolMissing("qemu-system-x86_64"),
  "a temp-dir name that is a symbolic link to a stale dir elsewhere: passed over, the link and what it names kept",
  async () => {
    const { checkout } = scriptCheckout("ivsh-lo13-link-");
    const { temp: elsewhere, stale } = staleDir(checkout);
    const temp = join(checkout, "linked-tmp");
    mkdirSync(temp);
    const link = join(temp, "ivsh-vm.link.abcdef");
    symlinkSync(stale, link);
    try {
      const stderr = await launchedCopySays(checkout, temp);
      // Before: the target's files removed through the link (its owner 999999 is gone), and a warning.
      expect({
        warnings: warnings(stderr),
        link: existsSync(link),
        target: readdirSync(stale).sort(),
        elsewhere: readdirSync(elsewhere),
      }).toEqual({
        warnings: [],
        link: true,
        target: ["bridge", "owner", "stuck"],
        elsewhere: ["ivsh-vm.gone.abcdef"],
      });
    } finally {
      rmSync(checkout, { recursive: true, force: true });
    }
  },
  BOUND_MS,
);
