/** Running `ivsh host` as its own process until it exits, and what a refusal must look like. */
import { expect } from "bun:test";
import { asParentOfArbiter } from "../../src/host/parent.ts";
import { CLI } from "./paths.ts";
import { EXIT_BOUND_MS, exitOrKill, readUntil } from "./processes.ts";
import { tracked } from "./reaper.ts";

/** `ivsh host` with these paths and flags, as a process of its own (as `uid` when given). */
export async function runHost(
  files: { region: string; socket: string; state?: string },
  extra: string[] = [],
  uid?: number,
  /** A command the arbiter runs under, e.g. `prlimit --fsize=N`. */
  wrapper: string[] = [],
): Promise<{ exitCode: number; stderr: string }> {
  const command = [
    ...wrapper,
    ...(uid === undefined ? [] : ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups"]),
    process.execPath,
    CLI,
    "host",
    "--exit-with-parent",
    ...["--region", files.region, "--socket", files.socket, "--size", "1MiB", "--block-size", "64KiB"],
    ...(files.state ? ["--state", files.state] : []),
    ...extra,
  ];
  const child = tracked(
    Bun.spawn(command, {
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1", ...asParentOfArbiter() },
    }),
  );
  const [exitCode, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()]);
  return { exitCode, stderr };
}

/** One error line and no stack: what a user gets for a path it must fix. */
export function expectOneLine(stderr: string, message: string): void {
  expect(stderr).toContain(message);
  expect(stderr).not.toMatch(/^\s+at /m);
  expect(stderr.trim().split("\n")).toHaveLength(1);
}

/**
 * What `ivsh host ARGS` (run in `cwd`, as `uid` when given) logs up to its "arbiter serving" line, then (after `serving`) stopped with SIGTERM,
 * which must end it with 0 (an arbiter that exits before serving fails the test with what it said).
 */
export async function startLines(
  args: string[],
  cwd: string,
  uid?: number,
  /** Called while it serves, before it is stopped (what it made is still there). */
  serving?: () => void,
): Promise<string> {
  const as = uid === undefined ? [] : ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups"];
  const host = tracked(
    Bun.spawn([...as, process.execPath, CLI, "host", "--exit-with-parent", ...args], {
      cwd,
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1", ...asParentOfArbiter() },
    }),
  );
  const said = await readUntil(host.stderr, "arbiter serving");
  if (!said.includes("arbiter serving")) throw new Error(`ivsh host exited before serving:\n${said}`);
  try {
    serving?.();
  } finally {
    host.kill("SIGTERM");
  }
  expect(await exitOrKill(host, EXIT_BOUND_MS)).toBe(0);
  return said;
}
