/**
 * `ivsh bench --scale` interrupted as a user interrupts it: Ctrl-C to the benchmark alone (`kill -INT`)
 * while its request mix runs, and Ctrl-C in a terminal (the whole process group) while it measures the
 * echo floor. Either way it exits 130 saying it was interrupted, without a crash.
 */
import { expect, test } from "bun:test";
import { CLI } from "../helpers/paths.ts";
import { exitOrKill, readUntil } from "../helpers/processes.ts";
import { tracked } from "../helpers/reaper.ts";

/** The scale benchmark in a process group of its own (setsid), as a shell's foreground job. */
function startScale(seconds: number) {
  const args = ["bench", "--scale", "--quick", "--seconds", String(seconds)];
  return tracked(
    Bun.spawn(["setsid", process.execPath, CLI, ...args], {
      stdin: "pipe",
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1" },
    }),
  );
}

async function outcome(run: ReturnType<typeof startScale>, said: string) {
  const exitCode = await exitOrKill(run, 30_000);
  if (exitCode === "late") process.kill(-run.pid, "SIGKILL");
  const stderr = said + (await readUntil(run.stderr, () => false));
  return { exitCode, stderr };
}

test("SIGINT while the request mix runs: exit 130, no crash of its memory sampler", async () => {
  const run = startScale(30);
  const said = await readUntil(run.stderr, "s of requests at");
  // Long enough for the sampler of the arbiter's memory to have run; the arbiter dies with the signal.
  await Bun.sleep(500);
  run.kill("SIGINT");
  const { exitCode, stderr } = await outcome(run, said);
  expect(stderr).not.toContain("ENOENT");
  expect(stderr).not.toContain("Bun v");
  expect(stderr).toContain("interrupted by SIGINT");
  expect(exitCode).toBe(130);
}, 60_000);

/** Pids of the processes in session `sid` whose command line contains `pattern`. */
function sessionProcesses(sid: number, pattern: string): number[] {
  const found = Bun.spawnSync(["pgrep", "-s", String(sid), "-f", pattern]).stdout.toString();
  return found.split("\n").filter(Boolean).map(Number);
}

/**
 * Ctrl-C in a terminal signals the whole process group at once; which process acts on it first is the
 * scheduler's choice. Here the benchmark is held stopped (SIGSTOP) while the signal reaches the group, so
 * its echo loads die of it first, as on a busy machine: when it runs again, their deaths must not be
 * reported as the failure, its own pending SIGINT is the story.
 */
test("Ctrl-C that the echo loads act on before the benchmark: exit 130, not the loads' deaths", async () => {
  const run = startScale(5);
  const said = await readUntil(run.stderr, "bare echo server");
  let loads: number[] = [];
  for (let attempt = 0; attempt < 100 && loads.length < 2; attempt++) {
    await Bun.sleep(50);
    loads = sessionProcesses(run.pid, "echo-load");
  }
  expect(loads.length).toBe(2);
  // Connected and waiting for the go, or sending: the benchmark is reading their events either way.
  await Bun.sleep(300);
  run.kill("SIGSTOP");
  process.kill(-run.pid, "SIGINT");
  await Bun.sleep(200);
  run.kill("SIGCONT");
  const { exitCode, stderr } = await outcome(run, said);
  expect(stderr).not.toContain("exited with code");
  expect(stderr).toContain("interrupted by SIGINT");
  expect(exitCode).toBe(130);
}, 60_000);
