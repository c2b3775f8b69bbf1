/**
 * `ivsh demo` stopped by a second signal while it cleans up after the first (an impatient second Ctrl-C,
 * or a SIGTERM after a SIGINT): the signal's default action ended it at once, without a word, and left its
 * workspace in /dev/shm (the generated file and the region, the whole --size and 64 MiB more) and the
 * arbiter's socket directory in /tmp. Like `ivsh bench`, it now removes what it made, says so, and exits.
 */
import { expect, test } from "bun:test";
import { demoLeftovers } from "./helpers/demo-leftovers.ts";
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

test("a second stop signal as the first is handled: exit 128+N saying so, nothing left behind", async () => {
  // Landing at different moments of the first signal's clean-up.
  for (const gapMs of [0, 5, 20]) {
    const demo = tracked(
      Bun.spawn(["setsid", process.execPath, CLI, "demo", "--size", "64MiB", "--rounds", "12"], {
        stdout: "ignore",
        stderr: "pipe",
        env: { ...process.env, NO_COLOR: "1" },
      }),
    );
    let said = await readUntil(demo.stderr, (text) => /file in \S+\n/.test(text));
    // Named with its pid, so that this demo's are told from another's.
    expect(said).toContain(`file in /dev/shm/ivsh-demo-${demo.pid}-`);
    if (!said.includes("round 1:")) said += await readUntil(demo.stderr, "round 1:");
    demo.kill("SIGINT");
    if (gapMs > 0) await Bun.sleep(gapMs);
    demo.kill("SIGTERM");
    const exitCode = await exitOrKill(demo, 30_000);
    const stderr = said + (await readUntil(demo.stderr, () => false));
    // Its children were signalled as it exited: a moment for them to go.
    for (let attempt = 0; attempt < 50 && inSession(demo.pid); attempt++) await Bun.sleep(100);
    const group = inSession(demo.pid);
    if (group) process.kill(-demo.pid, "SIGKILL");
    const left = demoLeftovers(demo.pid);
    expect(left, `gap ${gapMs} ms`).toEqual([]);
    expect(stderr, `gap ${gapMs} ms`).toMatch(
      /Failed to run the demo since it was interrupted by SIG(INT|TERM)/,
    );
    expect([130, 143] as (number | "late")[]).toContain(exitCode);
    expect(group, `gap ${gapMs} ms: processes left in its session`).toBe("");
  }
}, 120_000);
