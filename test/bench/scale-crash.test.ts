/**
 * `ivsh bench --scale` when one of its load workers dies (kill -9) during the restart measurement: it must
 * fail naming the worker and how it ended, and leave no process behind. It waited for the dead worker's
 * sessions to come back until their lease ran out (60 s), then failed as "Failed to kill since ESRCH",
 * naming neither the measurement nor the worker.
 */
import { expect, test } from "bun:test";
import { CLI } from "../helpers/paths.ts";
import { exitOrKill, readUntil } from "../helpers/processes.ts";
import { tracked } from "../helpers/reaper.ts";

/** Pids of the processes in session `sid` whose command line contains `pattern`. */
function sessionProcesses(sid: number, pattern: string): number[] {
  const found = Bun.spawnSync(["pgrep", "-s", String(sid), "-f", pattern]).stdout.toString();
  return found.split("\n").filter(Boolean).map(Number);
}

test("a load worker killed -9 during the restart measurement: the failure names it, nothing is left", async () => {
  // setsid: a session of its own, so that whatever it leaves running can be found (and ended) by it.
  const run = tracked(
    Bun.spawn(["setsid", process.execPath, CLI, "bench", "--scale", "--quick"], {
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1" },
    }),
  );
  // Said once every load has reported: the workers wait for the restart's signal, their clients connected.
  const said = await readUntil(run.stderr, "restart it on its state");
  const [worker] = sessionProcesses(run.pid, "scale-load .*--worker 0 ");
  expect(worker).toBeDefined();
  process.kill(worker!, "SIGKILL");
  // Generous: far beyond a prompt failure, and beyond the 60 s lease it used to wait for.
  const exitCode = await exitOrKill(run, 150_000);
  const stderr = said + (await readUntil(run.stderr, () => false));
  const left = sessionProcesses(run.pid, "ivsh");
  for (const pid of left) process.kill(pid, "SIGKILL");
  expect(stderr).not.toContain("ESRCH");
  expect(stderr).toContain(
    "Failed to run the scale worker 0 to run the scale benchmark since it exited with code 137 (killed by SIGKILL)",
  );
  expect(exitCode).toBe(1);
  expect(left).toEqual([]);
}, 180_000);
