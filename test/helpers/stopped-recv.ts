/**
 * A receiver stopped at a chosen system call: strace injects SIGSTOP as the call returns (its Nth on a
 * path), so a test makes a change at that point and continues it, an order that is certain, not a race.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { closeFd, O_RDONLY, openFile, tryLockShared } from "../../src/ffi/index.ts";
import { CLI, type TestPaths } from "./paths.ts";
import { eventually } from "./processes.ts";
import { tracked } from "./reaper.ts";
import { clientEnv, guest, randomFile } from "./transfer.ts";

/** The file's text, or "" if it is gone (a process that ended meanwhile). */
export function readIfThere(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** Whether a receiver holds (flock) the file `path` names. */
export function held(path: string): boolean {
  let fd: number;
  try {
    fd = openFile(path, O_RDONLY);
  } catch {
    return false;
  }
  try {
    return !tryLockShared(fd, path);
  } finally {
    closeFd(fd);
  }
}

/**
 * `guest recv --channel CHANNEL --out OUTPUT` under strace, stopped (SIGSTOP) as its first `syscall` on
 * OUTPUT.partial returns, until `resume`; `stopped` says whether it is stopped now.
 */
export function stoppedAfter(
  syscall: string,
  channel: string,
  output: string,
  {
    extra = [],
    paths,
    on = `${output}.partial`,
    when = 1,
    injects = [`${syscall}:signal=SIGSTOP:when=${when}`],
  }: { extra?: string[]; paths: TestPaths; on?: string | string[]; when?: number; injects?: string[] },
) {
  // Its log says when it stops (a ptrace stop at each traced call looks the same in /proc).
  const log = `${output}.strace`;
  // Each path's calls (-P): strace stops matching a path once its file was renamed away.
  const trace = [
    "-f",
    "-qq",
    "-o",
    log,
    ...[on].flat().flatMap((path) => ["-P", path]),
    "-e",
    `trace=${syscall}`,
  ];
  for (const inject of injects) trace.push("-e", `inject=${inject}`);
  const recv = ["guest", "recv", "--channel", channel, "--out", output, "--timeout", "10s", ...extra];
  const proc = tracked(
    Bun.spawn(["strace", ...trace, process.execPath, CLI, ...recv], {
      stdout: "pipe", // read below: its --json summary
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1", ...clientEnv(paths) },
    }),
  );
  const stderr = new Response(proc.stderr).text();
  const stdout = new Response(proc.stdout).text();
  // The process strace runs (its only child); 0 once it has ended (never a pid to signal: 0 is our group).
  const tracee = () => {
    const pid = Number(readIfThere(`/proc/${proc.pid}/task/${proc.pid}/children`).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : 0;
  };
  const signal = (name: NodeJS.Signals) => {
    const pid = tracee();
    if (pid) process.kill(pid, name);
  };
  /** Stopped (at least `times` times: each injected stop is logged once, as the signal it sends). */
  const stopped = (times = 1) =>
    readIfThere(log).includes("--- stopped by SIGSTOP ---") &&
    readIfThere(log).split("--- SIGSTOP {").length > times;
  return {
    proc,
    stderr,
    stdout,
    stopped,
    /** Waits until `stopped(times)`; `what` names the stop in the failure if it never comes. */
    untilStopped: (what: string, times = 1) => eventually(async () => stopped(times), 20_000, what),
    resume: () => signal("SIGCONT"),
    interrupt: () => signal("SIGINT"),
    /** A tracee left stopped outlives its strace: killed by its own pid, if it has one. */
    kill: () => {
      if (proc.exitCode === null) signal("SIGKILL");
      proc.kill("SIGKILL");
    },
  };
}

/**
 * The sender to a stopped receiver on channel `label`: `guest send -q DIR/LABEL.in`, that file made first
 * of `bytes` random bytes (`data`, to compare with what the receiver kept).
 */
export async function randomSender(suite: { dir: string; paths: TestPaths }, label: string, bytes: number) {
  const input = join(suite.dir, `${label}.in`);
  const data = await randomFile(input, bytes);
  return { data, sender: guest(suite.paths, ["send", "-q", input, "--channel", label]) };
}

/**
 * Waits until `recv` is stopped at its keep, then until `sender` has ended: under a lease shorter than the
 * stop, its sender gives up once the arbiter expired the frozen receiver's session. The sender's exit code.
 */
export async function senderOutlastingKeep(
  recv: ReturnType<typeof stoppedAfter>,
  sender: { exit(): Promise<number> },
): Promise<number> {
  await recv.untilStopped("the receiver's keep");
  return sender.exit();
}
