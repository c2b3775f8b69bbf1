/** Running `ivsh host` as its own process until it exits, and what a refusal must look like. */
import { expect } from "bun:test";
import { chmodSync, chownSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
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

/**
 * An arbiter run as `uid` on a 1 MiB region in a directory `name` of its own under `dirs.shmDir` (its socket
 * and state under `dirs.dir`), that directory then made unsearchable (chmod 0) for six sweeps at a 1 s lease,
 * `meanwhile` run before it is searchable again, then stopped with SIGTERM. `beforeStart` puts things beside
 * the region first. Returns the region's path, what `meanwhile` returned, the log after "arbiter serving" and
 * the exit code.
 */
export async function withRegionDirUnsearchable<T>(
  dirs: { shmDir: string; dir: string },
  name: string,
  uid: number,
  steps: { beforeStart?: (region: string) => void; meanwhile?: (socket: string, region: string) => T } = {},
): Promise<{ region: string; seen: T | undefined; rest: string; exitCode: number | "late" }> {
  const regionDir = join(dirs.shmDir, name);
  const runDir = join(dirs.dir, `${name}-run`);
  for (const dir of [regionDir, runDir]) {
    mkdirSync(dir, { mode: 0o755 });
    chownSync(dir, uid, uid);
  }
  for (const dir of [dirs.shmDir, dirs.dir]) chmodSync(dir, 0o711);
  const region = join(regionDir, "region");
  writeFileSync(region, new Uint8Array(1 << 20), { mode: 0o600 });
  chownSync(region, uid, uid);
  steps.beforeStart?.(region);
  const socket = join(runDir, "s.sock");
  const host = tracked(
    Bun.spawn(
      [
        ...["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", process.execPath, CLI],
        ...["host", "--exit-with-parent", "--region", region, "--socket", socket],
        ...["--state", join(runDir, "state"), "--size", "1MiB", "--lease", "1s"],
      ],
      { stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", ...asParentOfArbiter() } },
    ),
  );
  expect(await readUntil(host.stderr, "arbiter serving")).toContain("arbiter serving");
  chmodSync(regionDir, 0);
  let seen: T | undefined;
  try {
    await Bun.sleep(1500); // six sweeps at a 1 s lease, each looking at the region's files by name
    seen = steps.meanwhile?.(socket, region);
  } finally {
    chmodSync(regionDir, 0o755);
  }
  host.kill("SIGTERM");
  const [exitCode, rest] = await Promise.all([
    exitOrKill(host, EXIT_BOUND_MS),
    readUntil(host.stderr, () => false), // to its end
  ]);
  return { region, seen, rest, exitCode };
}
