/**
 * Every process the helpers spawn, and the test file that spawned it: one a failing test left running (it
 * threw before `arbiter.stop()`) is killed before the next test file runs, and all are killed when the
 * runner exits. bun runs every file in one process and evaluates a helper module once, so a hook the
 * helper registers would belong to the first file only: the next file's start is noticed instead, at its
 * first spawn and by the preload's beforeEach (./preload.ts), through `Bun.main`, the file being run.
 */
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
    proc.kill("SIGKILL");
    spawnedBy.delete(proc);
  }
  return left;
}

/** Waits until the leftovers just killed are reaped, so a later check of their pids sees them gone. */
export async function reapLeftovers(): Promise<void> {
  await Promise.all(killLeftovers().map((proc) => proc.exited));
}

process.on("exit", () => {
  for (const proc of spawnedBy.keys()) proc.kill("SIGKILL");
});
