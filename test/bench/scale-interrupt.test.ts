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
