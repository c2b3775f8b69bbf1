/**
 * This process and its threads: what happens when the parent exits, the open-file limit, and the
 * priorities and CPUs its threads run at.
 */
import { readdirSync, readFileSync } from "node:fs";
import { check } from "./errno.ts";
import { libc } from "./libc.ts";

/** Asks the kernel to send this process `signal` when its parent exits (prctl PR_SET_PDEATHSIG). */
export function exitWithParent(signal: number): void {
  const PR_SET_PDEATHSIG = 1;
  check(libc.prctl(PR_SET_PDEATHSIG, signal, 0, 0, 0), "prctl", "PR_SET_PDEATHSIG");
}

/** Sets `signal` to be ignored by the kernel (SIG_IGN), as a shell's `trap ''` does; kept across exec. */
export function ignoreSignal(signal: number): void {
  const SIG_IGN = 1n;
  const SIG_ERR = 0xffff_ffff_ffff_ffffn;
  if (BigInt(libc.signal(signal, SIG_IGN)) === SIG_ERR) check(-1, "signal", `SIG_IGN for signal ${signal}`);
}

const RLIMIT_NOFILE = 7;

/** This process's soft limit on open files now (a system call: it needs no descriptor of its own). */
export function openFileLimit(): number {
  const current = new BigUint64Array(2); // struct rlimit: rlim_cur, rlim_max
  check(libc.prlimit(0, RLIMIT_NOFILE, null, current), "prlimit", "RLIMIT_NOFILE");
  return Number(current[0]);
}

const RLIMIT_FSIZE = 1;

/** This process's limit on the size of a file it writes (ulimit -f) in bytes, or undefined when it has none. */
export function fileSizeLimit(): number | undefined {
  const current = new BigUint64Array(2);
  check(libc.prlimit(0, RLIMIT_FSIZE, null, current), "prlimit", "RLIMIT_FSIZE");
  return current[0] === 0xffff_ffff_ffff_ffffn ? undefined : Number(current[0]);
}

/**
 * EMFILE or ENFILE, a call that needed a new descriptor and got none, in words and with what to raise;
 * undefined for any other errno. The limit is read by a system call that needs no descriptor.
 */
export function outOfDescriptors(errno: string): { why: string; hint: string } | undefined {
  if (errno === "EMFILE")
    return {
      why: `this process has as many files open as its limit allows (EMFILE, ulimit -n ${openFileLimit()})`,
      hint: "raise the limit ivsh runs with (ulimit -n), or close the descriptors it inherited",
    };
  if (errno === "ENFILE")
    return {
      why: "the system's table of open files is full (ENFILE)",
      hint: "close files elsewhere, or raise fs.file-max",
    };
  return undefined;
}

/**
 * Raises this process's soft limit on open files to `wanted` (at most the hard limit), as `ulimit -n`
 * would; children started afterwards inherit it. Returns the soft limit before and after.
 */
export function raiseOpenFileLimit(wanted: number): { before: number; after: number; hard: number } {
  const current = new BigUint64Array(2); // struct rlimit: rlim_cur, rlim_max
  check(libc.prlimit(0, RLIMIT_NOFILE, null, current), "prlimit", "RLIMIT_NOFILE");
  const [before, hard] = [Number(current[0]), Number(current[1])];
  if (before >= wanted) return { before, after: before, hard };
  const raised = new BigUint64Array([BigInt(Math.min(wanted, hard)), current[1]!]);
  check(libc.prlimit(0, RLIMIT_NOFILE, raised, null), "prlimit", "RLIMIT_NOFILE");
  return { before, after: Math.min(wanted, hard), hard };
}

const SCHED_BATCH = 3;
const SCHED_IDLE = 5;

/**
 * Lets JavaScriptCore's optimising compiler threads ("JITWorker") run only on otherwise idle cores, for a
 * process whose whole job is a transfer (ivsh guest send / recv, the bench workers).
 * Why: a transfer keeps one core per end busy; on a machine with no core to spare, those threads'
 * compile bursts preempt the data path during the first ~100 ms of every transfer (measured on 2 cores:
 * the first 256 MiB at half rate; nice 19 instead of SCHED_IDLE helped less).
 * The bytes are moved by native code, so the baseline JIT loses little. The cost: a garbage collection
 * that must wait for a compiler thread waits until a core is free, which on a saturated machine is slow.
 * IVSH_IDLE_COMPILER=0 leaves them alone. Returns how many threads it changed.
 */
export function idleCompilerThreads(): number {
  if (process.env.IVSH_IDLE_COMPILER === "0") return 0;
  return idleThreads((tid) => threadName(tid) === "JITWorker");
}

/**
 * Puts every thread of this process at the lowest normal priority (SCHED_BATCH, nice 19): for background
 * work that must yield to the processes it serves, yet always progress. (SCHED_IDLE would not: on a
 * saturated host it can wait forever, and a compaction that never finishes lets the journal grow without
 * bound.) Returns how many threads it changed.
 */
export function backgroundPriority(): number {
  const noPriority = new Int32Array(1);
  const PRIO_PROCESS = 0; // with a thread id as `who`, Linux applies it to that thread
  let changed = 0;
  for (const tid of ownThreads()) {
    libc.sched_setscheduler(Number(tid), SCHED_BATCH, noPriority);
    if (libc.setpriority(PRIO_PROCESS, Number(tid), 19) === 0) changed++;
  }
  return changed;
}

/** SCHED_IDLE for this process's threads that `chosen` picks. */
function idleThreads(chosen: (tid: string) => boolean): number {
  const noPriority = new Int32Array(1);
  let changed = 0;
  for (const tid of ownThreads())
    if (chosen(tid) && libc.sched_setscheduler(Number(tid), SCHED_IDLE, noPriority) === 0) changed++;
  return changed;
}

/** This process's thread ids; none where there is no /proc (a minimal guest: nothing to adjust then). */
function ownThreads(): string[] {
  try {
    return readdirSync("/proc/self/task");
  } catch {
    return [];
  }
}

function threadName(tid: string): string | undefined {
  try {
    return readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim();
  } catch {
    return undefined; // the thread ended meanwhile
  }
}

/** The CPU this thread runs on now (for experiments on where the kernel places woken threads). */
export function currentCpu(): number {
  return libc.sched_getcpu();
}

/** Gives up the CPU for a moment: the polite part of a spin-wait. */
export function yieldProcessor(): void {
  libc.sched_yield();
}
