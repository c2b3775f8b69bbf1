/**
 * A stop signal that reaches `ivsh host` as it starts: it ends the arbiter, which leaves no socket and no
 * half-written state file behind. A signal ignored when it started (a script's background job, where POSIX
 * has the shell ignore SIGINT; `nohup`, SIGHUP) stays ignored, as it did for any POSIX tool: a Ctrl-C
 * meant for the script's foreground job reaches the background arbiter too, and must not stop it.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { CLI, REPO, type TestPaths, testPaths } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, exitOrKill, readUntil, runCli } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";

const REPEATS = 4;
let made: TestPaths[] = [];

afterEach(() => {
  for (const paths of made) paths.cleanup();
  made = [];
});

/** `ivsh host` on `paths`, run by this Bun, or by `launcher` (the package's command) when given. */
function hostCommand(paths: TestPaths, launcher = [process.execPath, CLI]): string[] {
  return [
    ...launcher,
    "host",
    "--exit-with-parent",
    ...["--region", paths.region, "--socket", paths.socket, "--state", paths.state],
    ...["--size", "1MiB", "--block-size", "64KiB"],
  ];
}

/** What a start cut short may not leave: the socket, or a state file written aside and never renamed. */
function expectNothingLeft(paths: TestPaths): void {
  expect(existsSync(paths.socket)).toBe(false);
  const leftovers = [...readdirSync(paths.dir), ...readdirSync(paths.shmDir)].filter(
    (name) => name.includes(".tmp-") || name.endsWith(".sock") || name.endsWith(".handover"),
  );
  expect(leftovers).toEqual([]);
}

describe("a stop signal as ivsh host starts", () => {
  test("SIGINT right after spawning it ends it, and nothing is left (repeated)", async () => {
    for (let round = 0; round < REPEATS; round++) {
      const paths = testPaths("start-signal");
      made.push(paths);
      const child = Bun.spawn(hostCommand(paths), { stdout: "ignore", stderr: "pipe" });
      child.kill("SIGINT");
      // Killed by it before any of our code ran, or stopped cleanly (exit 0): never left running.
      expect(await exitOrKill(child, EXIT_BOUND_MS)).not.toBe("late");
      expect([0, null]).toContain(child.exitCode);
      expectNothingLeft(paths);
    }
  }, 120_000);

  test(
    "SIGTERM once the CLI has loaded, SIGINT inherited as ignored (a script's background job): it stops (repeated)",
    async () => {
      for (let round = 0; round < REPEATS; round++) {
        const paths = testPaths("start-signal-ign");
        made.push(paths);
        // `trap '' INT` then exec: what `ivsh host &` in a script gives the arbiter.
        const child = Bun.spawn(["sh", "-c", `trap '' INT; exec "$@"`, "sh", ...hostCommand(paths)], {
          stdout: "ignore",
          stderr: "pipe",
          env: { ...process.env, NO_COLOR: "1", IVSH_PHASES: "1" },
        });
        // Every module of the CLI has been evaluated, the command's own has not: the signal is held for it.
        const said = await readUntil(child.stderr, "cli loaded");
        expect(said).toContain("cli loaded");
        await stopsOnSigterm(child);
        expectNothingLeft(paths);
      }
    },
    4 * EXIT_BOUND_MS + 30_000,
  );
});

describe("a stop signal ignored when ivsh host started stays ignored", () => {
  for (const [trapped, signal] of [
    ["INT", "SIGINT"],
    ["HUP", "SIGHUP"],
  ] as const)
    test(`${signal} with ${signal} ignored (trap '' ${trapped}): it serves on; SIGTERM then stops it`, async () => {
      const paths = testPaths("start-signal-kept");
      made.push(paths);
      const child = Bun.spawn(["sh", "-c", `trap '' ${trapped}; exec "$@"`, "sh", ...hostCommand(paths)], {
        stdout: "ignore",
        stderr: "pipe",
        env: { ...process.env, NO_COLOR: "1" },
      });
      const serving = await readUntil(child.stderr, "arbiter serving");
      expect(serving).toContain("arbiter serving");
      child.kill(signal);
      // Before the fix, the listener the arbiter installed took it: "stopped on SIGINT", exit 0.
      const status = await runCli(["status", "--socket", paths.socket]);
      expect(status.exitCode, status.stderr).toBe(0);
      expect(child.exitCode).toBeNull();
      expect(await stopsOnSigterm(child)).not.toContain(signal);
      expectNothingLeft(paths);
    }, 60_000);
});

// The package's command (bin/ivsh.mjs, which npm links as `ivsh`) was a Node script: Node sets every signal
// to its default as it starts, so the Bun it ran the CLI with saw SIGINT as not ignored, and a Ctrl-C meant
// for a script's foreground job stopped its background `npx ivsh host &` ("stopped on SIGINT").
test("through the package's command (bin/ivsh.mjs run as npm's `ivsh` runs it), SIGINT ignored: it serves on", async () => {
  const paths = testPaths("start-signal-bin");
  made.push(paths);
  const command = hostCommand(paths, [join(REPO, "bin/ivsh.mjs")]);
  const child = tracked(
    Bun.spawn(["sh", "-c", `trap '' INT; exec "$@"`, "sh", ...command], {
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1" },
      detached: true, // a process group of its own, as a script's job has: a Ctrl-C reaches all of it
    }),
  );
  const serving = await readUntil(child.stderr, "arbiter serving");
  expect(serving).toContain("arbiter serving");
  process.kill(-child.pid, "SIGINT");
  const status = await runCli(["status", "--socket", paths.socket]);
  expect(status.exitCode, status.stderr).toBe(0);
  expect(child.exitCode).toBeNull();
  expect(await stopsOnSigterm(child)).not.toContain("SIGINT");
  expectNothingLeft(paths);
}, 60_000);

/** Sends SIGTERM and expects a clean stop (exit 0, "stopped on SIGTERM"); returns the rest of its stderr. */
async function stopsOnSigterm(child: Subprocess<"ignore", "ignore", "pipe">): Promise<string> {
  child.kill("SIGTERM");
  const outcome = await exitOrKill(child, EXIT_BOUND_MS);
  const stderr = await readUntil(child.stderr, () => false);
  expect({ outcome, stderr }).toEqual({ outcome: 0, stderr: expect.stringMatching(/stopped on SIGTERM/) });
  return stderr;
}
