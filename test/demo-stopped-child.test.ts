/**
 * `ivsh demo` stopped at once (src/commands/_stop-at-once.ts) while its children are stopped (SIGSTOP, a
 * debugger, a job-control stop), the second signal landing before the first one's unwinding signalled
 * them: only the hard stop's kill of every child ends them. Without it, a bench worker lived on, stopped,
 * after its parent exited (the arbiter has its death signal; the kernel ends a stopped process on any
 * signal whose default action is fatal, so SIGTERM in place of SIGKILL is not told apart here).
 */
import { expect, test } from "bun:test";
import { CLI } from "./helpers/paths.ts";
import { exitOrKill, readUntil } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";

/** The live processes (zombies have ended) of session `sid`, as "PID STAT; ...". */
function inSession(sid: number): string {
  return Bun.spawnSync(["ps", "-o", "pid=,stat=", "-s", String(sid)])
    .stdout.toString()
    .split("\n")
    .filter((line) => line.trim() && !line.trim().split(/ +/)[1]?.startsWith("Z"))
    .join("; ");
}

/** The pids of `pid`'s children. */
function childrenOf(pid: number): number[] {
  return Bun.spawnSync(["pgrep", "-P", String(pid)])
    .stdout.toString()
    .split("\n")
    .filter(Boolean)
    .map(Number);
}

test("a second stop signal ends the demo's stopped children too: nothing is left in its session", async () => {
  const demo = tracked(
    Bun.spawn(["setsid", process.execPath, CLI, "demo", "--size", "16MiB", "--rounds", "50"], {
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1" },
    }),
  );
  try {
    const said = await readUntil(demo.stderr, "round 1:");
    expect(said).toContain("round 1:");
    const children = childrenOf(demo.pid);
    expect(children.length, "the demo's children").toBeGreaterThan(0);
    for (const child of children) process.kill(child, "SIGSTOP");
    demo.kill("SIGINT");
    await Bun.sleep(100);
    demo.kill("SIGTERM");
    const exitCode = await exitOrKill(demo, 30_000);
    const stderr = said + (await readUntil(demo.stderr, () => false));
    expect(stderr).toMatch(/Failed to run the demo since it was interrupted by SIGINT: stopped at once/);
    expect(exitCode).toBe(130);
    // Its children were SIGKILLed as it exited: a moment for them to go.
    for (let attempt = 0; attempt < 50 && inSession(demo.pid); attempt++) await Bun.sleep(100);
    expect(inSession(demo.pid), "processes left in its session").toBe("");
  } finally {
    if (inSession(demo.pid)) process.kill(-demo.pid, "SIGKILL");
  }
}, 120_000);
