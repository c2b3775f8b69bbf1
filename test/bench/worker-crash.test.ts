/**
 * `ivsh bench --quick` when one of its worker processes dies mid-measurement (kill -9): it must fail
 * naming the measurement that broke and why, and leave nothing behind. It said only "Failed to run the
 * cv-pair b worker since it exited with code 137": a role name the user never sees, not what it measured.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { CLI } from "../helpers/paths.ts";
import { exitOrKill, readUntil } from "../helpers/processes.ts";
import { tracked } from "../helpers/reaper.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync("/tmp/ivsh-bench-test-crash-");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Pids of the live processes in session `sid` whose command line contains `pattern`. */
function sessionProcesses(sid: number, pattern: string): number[] {
  const found = Bun.spawnSync(["pgrep", "-s", String(sid), "-f", pattern]).stdout.toString();
  return found.split("\n").filter(Boolean).map(Number);
}

/** What a run of pid `pid` leaves in the shared temporary places (its names carry its pid). */
function leftovers(pid: number): string[] {
  return ["/dev/shm", "/tmp", "/var/tmp"].flatMap((parent) =>
    readdirSync(parent)
      .filter((name) => name.includes(`-${pid}-`) && name.startsWith("ivsh-bench-"))
      .map((name) => `${parent}/${name}`),
  );
}

test("a worker killed -9 mid-measurement: the failure names the measurement and the kill, nothing is left", async () => {
  const run = tracked(
    Bun.spawn(["setsid", process.execPath, CLI, "bench", "--quick", "--disk-dir", dir], {
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1" },
    }),
  );
  // The condvar pair runs in each round's second half; its workers live for a second or more.
  let said = await readUntil(run.stderr, "condvar ping-pong");
  let workers: number[] = [];
  for (let attempt = 0; attempt < 2000 && workers.length === 0; attempt++) {
    workers = sessionProcesses(run.pid, "bench-worker cv-pair");
    if (workers.length === 0) await Bun.sleep(5);
  }
  expect(workers.length).toBeGreaterThan(0);
  process.kill(workers[0]!, "SIGKILL");
  const exitCode = await exitOrKill(run, 120_000);
  said += await readUntil(run.stderr, () => false);
  for (let attempt = 0; attempt < 50 && sessionProcesses(run.pid, "ivsh").length > 0; attempt++)
    await Bun.sleep(100);
  const left = sessionProcesses(run.pid, "ivsh");
  for (const pid of left) process.kill(pid, "SIGKILL");
  expect(said).toMatch(
    /Failed to run the cv-pair [ab] worker to measure condvar ping-pong and wake-ups since/,
  );
  expect(said).toContain("killed by SIGKILL");
  expect(exitCode).toBe(1);
  expect(left).toEqual([]);
  expect(leftovers(run.pid)).toEqual([]);
}, 180_000);
