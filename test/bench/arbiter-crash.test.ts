/**
 * `ivsh bench --quick` and `ivsh demo` when their arbiter dies mid-run (kill -9): the failure must say so.
 * It was reported as a worker's or receiver's failure to connect, "nothing listens on it (start it with
 * `ivsh host`, or pass --socket ...)": advice for a command the user never ran, and no word of the death.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { CLI } from "../helpers/paths.ts";
import { exitOrKill, readUntil } from "../helpers/processes.ts";
import { tracked } from "../helpers/reaper.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync("/tmp/ivsh-bench-test-arbiter-crash-");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Pids of the live processes in session `sid` whose command line contains `pattern`. */
function sessionProcesses(sid: number, pattern: string): number[] {
  const found = Bun.spawnSync(["pgrep", "-s", String(sid), "-f", pattern]).stdout.toString();
  return found.split("\n").filter(Boolean).map(Number);
}

/** Runs `ivsh ARGS` in a session of its own, kills -9 its arbiter once it said `cue`; its exit and stderr. */
async function killArbiterOf(args: string[], cue: string, arbiter: string) {
  const run = tracked(
    Bun.spawn(["setsid", process.execPath, CLI, ...args], {
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1" },
    }),
  );
  let stderr = await readUntil(run.stderr, cue);
  const [pid] = sessionProcesses(run.pid, arbiter);
  expect(pid).toBeDefined();
  process.kill(pid!, "SIGKILL");
  const exitCode = await exitOrKill(run, 120_000);
  stderr += await readUntil(run.stderr, () => false);
  for (let attempt = 0; attempt < 50 && sessionProcesses(run.pid, "").length > 0; attempt++)
    await Bun.sleep(100);
  const left = sessionProcesses(run.pid, "");
  for (const process_ of left) process.kill(process_, "SIGKILL");
  return { exitCode, stderr, left };
}

test("bench: its /dev/shm arbiter killed -9 mid-run: the failure says the arbiter died", async () => {
  const { exitCode, stderr, left } = await killArbiterOf(
    ["bench", "--quick", "--disk-dir", dir],
    "round 1 of",
    "host --exit-with-parent --region /dev/shm/ivsh-bench-region-",
  );
  expect(stderr).toMatch(
    /Failed to use the \/dev\/shm arbiter since it exited with code 137 \(killed by SIGKILL\)/,
  );
  expect(stderr).not.toContain("start it with `ivsh host");
  expect(exitCode).toBe(1);
  expect(left).toEqual([]);
}, 180_000);

test("demo: its arbiter killed -9 mid-run: the failure says the arbiter died", async () => {
  const { exitCode, stderr, left } = await killArbiterOf(
    ["demo", "--size", "64MiB", "--rounds", "50"],
    "round 1:",
    "host --exit-with-parent ",
  );
  expect(stderr).toMatch(
    /Failed to use the demo arbiter since it exited with code 137 \(killed by SIGKILL\)/,
  );
  expect(stderr).not.toContain("start it with `ivsh host");
  expect(exitCode).toBe(1);
  expect(left).toEqual([]);
}, 180_000);
