/**
 * Every process the helpers spawn, and the test file that spawned it: one a failing test left running (it
 * threw before `arbiter.stop()`) is killed before the next test file runs, and all are killed when the
 * runner exits. bun runs every file in one process and evaluates a helper module once, so a hook the
 * helper registers would belong to the first file only: the next file's start is noticed instead, at its
 * first spawn and by the preload's beforeEach (./preload.ts), through `Bun.main`, the file being run.
 */
import { readdirSync, readFileSync } from "node:fs";
import type { Subprocess } from "bun";

const spawnedBy = new Map<Subprocess, string>();

/** Records `proc` as the current test file's; first kills what earlier files left. */
export function tracked<T extends Subprocess>(proc: T): T {
  killLeftovers();
  spawnedBy.set(proc, Bun.main);
  proc.exited.then(() => spawnedBy.delete(proc));
  return proc;
}

/** Kills every tracked process an earlier test file left running; returns them. */
export function killLeftovers(): Subprocess[] {
  const left = [...spawnedBy].filter(([, file]) => file !== Bun.main).map(([proc]) => proc);
  if (left.length === 0) return left;
  const files = [...new Set(left.map((proc) => spawnedBy.get(proc)))].join(", ");
  console.warn(
    `killing ${left.length} process(es) left running by ${files}: pids ${left.map((p) => p.pid).join(", ")}`,
  );
  for (const proc of left) {
    killWithDescendants(proc);
    spawnedBy.delete(proc);
  }
  return left;
}

/**
 * Its descendants first: strace killed alone detaches its tracee, which stays stopped if a test left it at
 * an injected SIGSTOP, holding the runner's stderr open, so whatever reads the runner's output never ends.
 */
function killWithDescendants(proc: Subprocess): void {
  for (const pid of descendantsOf(proc.pid)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Gone meanwhile.
    }
  }
  proc.kill("SIGKILL");
}

/** Every process below `pid`, children before their own children: /proc/PID/task/TID/children. */
export function descendantsOf(pid: number): number[] {
  const found: number[] = [];
  for (let at = 0, pending = [pid]; at < pending.length; at++) {
    const children = childrenOf(pending[at]!);
    found.push(...children);
    pending.push(...children);
  }
  return found;
}

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").split(" ").filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

/** Waits until the leftovers just killed are reaped, so a later check of their pids sees them gone. */
export async function reapLeftovers(): Promise<void> {
  await Promise.all(killLeftovers().map((proc) => proc.exited));
}

/**
 * Kills every tracked process, the last file's too: at the end of the run (./preload.ts's afterAll, as bun
 * test 1.4.5 runs no process "exit" listener) and at an exit outside bun test.
 */
export function killAll(): void {
  for (const proc of spawnedBy.keys()) killWithDescendants(proc);
  spawnedBy.clear();
}

process.on("exit", killAll);
