/**
 * `ivsh bench` stopped by a second signal while it unwinds after the first (an impatient second Ctrl-C):
 * it removed its files and exited at once, but sent its children only the first signal's SIGTERM, so a
 * child that had not ended on it (stopped, or busy missing it) outlived the benchmark. Like `ivsh demo`,
 * it now ends them with SIGKILL as it exits. Its children are held stopped here: SIGTERM stays pending
 * on a stopped process, SIGKILL does not.
 */
import { expect, test } from "bun:test";
import { CLI } from "../helpers/paths.ts";
import { exitOrKill, readUntil } from "../helpers/processes.ts";
import { tracked } from "../helpers/reaper.ts";

/** The live processes (zombies have ended) of session `sid` other than `except`, as "PID STAT; ...". */
function inSession(sid: number, except?: number): string[] {
  return Bun.spawnSync(["ps", "-o", "pid=,stat=", "-s", String(sid)])
    .stdout.toString()
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line && !line.split(/ +/)[1]?.startsWith("Z"))
    .filter((line) => Number(line.split(/ +/)[0]) !== except);
}

test("a second stop signal: its children are killed as it exits, not left running", async () => {
  const args = ["bench", "--scale", "--quick", "--seconds", "30"];
  const run = tracked(
    Bun.spawn(["setsid", process.execPath, CLI, ...args], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1" },
    }),
  );
  try {
    const said = await readUntil(run.stderr, "s of requests at");
    const children = inSession(run.pid, run.pid).map((line) => Number(line.split(/ +/)[0]));
    expect(children.length, said).toBeGreaterThan(1);
    for (const pid of children) process.kill(pid, "SIGSTOP");
    run.kill("SIGINT");
    await Bun.sleep(200);
    run.kill("SIGTERM");
    const exitCode = await exitOrKill(run, 30_000);
    const stderr = said + (await readUntil(run.stderr, () => false));
    // A stop asked for, no failure: before, "[ivsh] ERROR Failed to run the benchmark since ...".
    expect(stderr).toContain(
      "[ivsh] Failed to run the benchmark since it was interrupted by SIGINT: stopped at once",
    );
    expect(exitCode).toBe(130);
    // Signalled as it exited: a moment for them to go.
    let left = inSession(run.pid);
    for (let attempt = 0; attempt < 50 && left.length > 0; attempt++) {
      await Bun.sleep(100);
      left = inSession(run.pid);
    }
    expect(left, "processes left in its session").toEqual([]);
  } finally {
    if (inSession(run.pid).length > 0) process.kill(-run.pid, "SIGKILL");
  }
}, 90_000);
