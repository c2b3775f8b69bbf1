/**
 * launch.sh --run stopped (SIGTSTP) between starting QEMU (`... &`) and `QGROUP=$!`: bash runs the trap
 * between two commands, so on_stop found no QGROUP and stopped this script alone, its QEMU running on.
 * No timing: strace puts the signal at the very fork of QEMU's process (the kernel restarts the fork once
 * the signal is taken, so the trap runs after the `&`). Which fork that is, a first run under strace says
 * (the one whose child is QEMU); the second, as a terminal's job, gets the signal there. QEMU is a script
 * (its pid to a file, then a sleep): no VM is booted. A SIGTERM in the same window (between the `&` and
 * `QPID=$!`) found no QPID: launch.sh exited, its QEMU running on where no parent-death signal ends it.
 */
import { expect } from "bun:test";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { AS_JOB, stateOf } from "../helpers/launch-job.ts";
import { REPO } from "../helpers/paths.ts";
import { exitOrKill } from "../helpers/processes.ts";
import { tracked } from "../helpers/reaper.ts";
import { straceUnusable, testUnless, toolMissing } from "../helpers/tools.ts";
import { vmName } from "./vm.ts";

/** Liveness bound only: the fake QEMU starts at once; a stop or a continue takes effect at once. */
const BOUND_MS = 30_000;

/** As a terminal's job: the leader of a process group of its own, in its parent's session (launch-stopped). */
/** Waits, within the liveness bound, until `done` holds; returns whether it did. */
async function until(done: () => boolean): Promise<boolean> {
  const deadline = Date.now() + BOUND_MS;
  while (!done() && Date.now() < deadline) await Bun.sleep(50);
  return done();
}

/** The fork-like calls in an strace log: the call's name, and its result ("?" for a restarted one). */
function forks(log: string): { call: string; result: string }[] {
  return [...log.matchAll(/^(clone3?|v?fork)\(.*\) = (\?|\d+)/gm)].map(([, call = "", result = ""]) => ({
    call,
    result,
  }));
}

const readOr = (path: string) => (existsSync(path) ? readFileSync(path, "utf8") : "");

/** A copy of the scripts with a fake QEMU (its pid to a file, then a sleep) first on PATH, and `tools` beside it. */
function fakeCheckout(tools: Record<string, string> = {}) {
  const checkout = mkdtempSync(join(tmpdir(), "ivsh-lo13-window-"));
  const bin = join(checkout, "bin");
  const temp = join(checkout, "tmp");
  const pidFile = join(checkout, "qemu.pid");
  mkdirSync(join(checkout, "scripts/qemu"), { recursive: true });
  mkdirSync(join(checkout, "build/qemu/run"), { recursive: true });
  mkdirSync(bin);
  mkdirSync(temp);
  for (const script of ["launch.sh", "accel.sh", "stale.sh"])
    copyFileSync(join(REPO, "scripts/qemu", script), join(checkout, "scripts/qemu", script));
  for (const file of ["vmlinuz", "initramfs.cpio"]) writeFileSync(join(checkout, "build/qemu", file), "x");
  const scripts = { ...tools, "qemu-system-x86_64": `#!/bin/sh\necho $$ >${pidFile}\nexec sleep 900\n` };
  for (const [tool, text] of Object.entries(scripts)) {
    writeFileSync(join(bin, tool), text);
    chmodSync(join(bin, tool), 0o755);
  }
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, TMPDIR: temp };
  const args = ["--name", vmName("window"), "--region", "none", "--accel", "tcg", "--no-build", "-q"];
  const launch = [join(checkout, "scripts/qemu/launch.sh"), ...args, "--run", "true"];
  const fakeQemu = () => Number(readOr(pidFile).trim()) || undefined;
  /** Ends the fake QEMU (launch.sh then exits 125, "the guest gave no result"). */
  const endQemu = () => {
    const pid = fakeQemu();
    try {
      if (pid) process.kill(pid, "SIGTERM");
    } catch {} // gone already
  };
  const runs: Subprocess[] = [];
  const cleanup = async () => {
    endQemu();
    for (const run of runs) {
      try {
        process.kill(-run.pid, "SIGCONT");
      } catch {} // not a group leader, or gone
      run.kill("SIGKILL");
      await exitOrKill(run, BOUND_MS);
    }
    rmSync(checkout, { recursive: true, force: true });
  };
  return { checkout, pidFile, env, launch, fakeQemu, endQemu, runs, cleanup };
}

/**
 * Which fork starts QEMU, from a first run under strace: the call's name and its ordinal among calls of that
 * name (strace's `when=`), for a second run to inject a signal at.
 */
async function qemuFork(setUp: ReturnType<typeof fakeCheckout>): Promise<{ call: string; nth: number }> {
  const { checkout, pidFile, env, launch, fakeQemu, endQemu, runs } = setUp;
  const firstLog = join(checkout, "first.strace");
  const calls = "clone,clone3,fork,vfork";
  const first = tracked(
    Bun.spawn(["strace", "-qq", "-o", firstLog, "-e", `trace=${calls}`, "-e", "signal=none", ...launch], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
      env,
    }),
  );
  runs.push(first);
  expect(await until(() => fakeQemu() !== undefined)).toBe(true);
  const firstQemu = fakeQemu();
  endQemu();
  expect(await exitOrKill(first, BOUND_MS)).toBe(125);
  const firstForks = forks(readFileSync(firstLog, "utf8"));
  const at = firstForks.findIndex(({ result }) => result === String(firstQemu));
  expect(at).toBeGreaterThanOrEqual(0);
  const call = firstForks[at]!.call;
  rmSync(pidFile);
  return { call, nth: firstForks.slice(0, at + 1).filter((fork) => fork.call === call).length };
}

/** `launch` under strace, `signal` injected at QEMU's fork; `prefix` runs it (as a terminal's job: AS_JOB). */
function injectedAtFork(
  setUp: ReturnType<typeof fakeCheckout>,
  { call, nth }: { call: string; nth: number },
  signal: string,
  prefix: string[] = [],
) {
  const log = join(setUp.checkout, "second.strace");
  const inject = `inject=${call}:signal=${signal}:when=${nth}`;
  const run = tracked(
    Bun.spawn(
      [
        ...prefix,
        "strace",
        "-qq",
        "-o",
        log,
        "-e",
        `trace=${call}`,
        "-e",
        "signal=none",
        "-e",
        inject,
        ...setUp.launch,
      ],
      { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: setUp.env },
    ),
  );
  setUp.runs.push(run);
  // QEMU's process: the first child of a fork from the injected one on (that one restarted, "?").
  const qemuOf = () =>
    forks(readOr(log))
      .slice(nth - 1)
      .find(({ result }) => result !== "?")?.result;
  return { run, qemuOf };
}

testUnless(
  straceUnusable() ?? toolMissing("perl"),
  "launch.sh --run stopped as it starts QEMU (SIGTSTP at QEMU's fork): its QEMU is stopped too, and continued with it",
  async () => {
    const setUp = fakeCheckout();
    const { fakeQemu, endQemu } = setUp;
    try {
      const { run: second, qemuOf } = injectedAtFork(setUp, await qemuFork(setUp), "SIGTSTP", AS_JOB);
      const stderr = new Response(second.stderr).text();
      expect(await until(() => qemuOf() !== undefined)).toBe(true);
      const qemu = Number(qemuOf());
      const launchSh = () => Number(readOr(`/proc/${second.pid}/task/${second.pid}/children`).trim());
      const stopped = () => ({ launchSh: stateOf(launchSh()), qemu: stateOf(qemu) });
      await until(() => /^[tT]$/.test(stopped().launchSh) && stopped().qemu === "T");
      // Before: { launchSh: "t", qemu: "S" }, QEMU running on.
      expect(stopped()).toEqual({ launchSh: expect.stringMatching(/^[tT]$/), qemu: "T" });

      process.kill(-second.pid, "SIGCONT"); // as `fg` does
      expect(await until(() => fakeQemu() !== undefined && stateOf(qemu) !== "T")).toBe(true);
      expect(fakeQemu()).toBe(qemu); // the fork stopped at was QEMU's
      endQemu();
      expect(await exitOrKill(second, BOUND_MS)).toBe(125);
      expect(await stderr).toContain("the guest gave no result (QEMU killed by SIGTERM");
    } finally {
      await setUp.cleanup();
    }
  },
  4 * BOUND_MS,
);

testUnless(
  straceUnusable(),
  "launch.sh --run ended (SIGTERM) as it starts QEMU, without setpriv's parent-death signal: its QEMU ends with it",
  async () => {
    // setpriv refusing --pdeathsig, as one before util-linux 2.33 does: nothing ends QEMU but launch.sh.
    const setUp = fakeCheckout({ setpriv: "#!/bin/sh\nexit 1\n" });
    try {
      const { run, qemuOf } = injectedAtFork(setUp, await qemuFork(setUp), "SIGTERM");
      expect(await until(() => qemuOf() !== undefined)).toBe(true);
      const qemu = Number(qemuOf());
      const code = await exitOrKill(run, BOUND_MS);
      // Before: { code: 143, qemu: "S" }: on_signal found no QPID and exited, its QEMU running on, orphaned.
      expect({ code, qemu: stateOf(qemu) }).toEqual({ code: 143, qemu: "gone" });
    } finally {
      await setUp.cleanup();
    }
  },
  3 * BOUND_MS,
);
