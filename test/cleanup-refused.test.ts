/**
 * A step of `ivsh host`'s start that fails, whose clean-up's removal is refused too (its directory made
 * append-only, chattr +a, meanwhile: unlink is EPERM for root too): the step's own error is what is said,
 * the file left named beside it with EPERM and the flag; the removal's EPERM in its place sent the operator
 * after a permission problem that was not the failure. The host is stopped (strace's SIGSTOP) as the
 * failing call returns (strace injects its error), the directory flagged, and continued.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { asParentOfArbiter } from "../src/host/parent.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, eventually, exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { readIfThere } from "./helpers/stopped-recv.ts";
import { straceUnusable, testUnless } from "./helpers/tools.ts";

const chattr = (flag: string, path: string) => Bun.spawnSync(["chattr", flag, path]).exitCode === 0;

/** Why a directory cannot be flagged append-only here (not root, no chattr, a /dev/shm without it). */
function cannotFlag(): string | undefined {
  if (process.getuid?.() !== 0) return "only root may set the append-only flag (chattr +a)";
  if (!Bun.which("chattr")) return "chattr is not installed";
  const probe = mkdtempSync("/dev/shm/ivsh-lo7-chattr-");
  const works = chattr("+a", probe);
  chattr("-a", probe);
  rmSync(probe, { recursive: true });
  return works ? undefined : "/dev/shm's file system here has no append-only flag (chattr +a)";
}
const skipped = cannotFlag() ?? straceUnusable();

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("lo7-cleanup-refused");
});
afterAll(() => paths?.cleanup());

/**
 * `ivsh host` with its region, state and socket in a new directory under /dev/shm, under strace with
 * `trace` (its -P and -e), stopped at the injected call; the directory is flagged then, and the host
 * continued. Its exit code and what it said.
 */
async function startStopped(name: string, trace: (dir: string) => string[]) {
  const dir = join(paths.shmDir, name);
  mkdirSync(dir);
  const log = join(paths.dir, `${name}.strace`);
  const args = ["host", "--region", join(dir, "region"), "--socket", join(dir, "s"), "--size", "1MiB"];
  const host = tracked(
    Bun.spawn(["strace", "-f", "-qq", "-o", log, ...trace(dir), process.execPath, CLI, ...args], {
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1", ...asParentOfArbiter() },
    }),
  );
  const said = new Response(host.stderr).text();
  const tracee = () => Number(readIfThere(`/proc/${host.pid}/task/${host.pid}/children`).trim()) || 0;
  try {
    await eventually(async () => readIfThere(log).includes("--- stopped by SIGSTOP ---"), 20_000, "the stop");
    expect(chattr("+a", dir)).toBe(true);
    process.kill(tracee(), "SIGCONT");
    const code = await exitOrKill(host, EXIT_BOUND_MS);
    return { dir, code, said: await said, left: readdirSync(dir), log: readIfThere(log) };
  } finally {
    if (tracee()) process.kill(tracee(), "SIGKILL");
    host.kill("SIGKILL");
    chattr("-a", dir);
  }
}

testUnless(
  skipped,
  "the hand-over socket's link refused (EEXIST), its private name's removal too: the refusal said, the name left said, the start's own files' flag said",
  async () => {
    const run = await startStopped("handover", (dir) => [
      ...["-P", join(dir, "s.handover"), "-e", "trace=link"],
      ...["-e", "inject=link:error=EEXIST:signal=SIGSTOP:when=1"],
    ]);
    expect(run.log).toContain("(INJECTED)");
    expect(run.code).toBe(1);
    // Before: "Failed to unlink DIR/s.~XXXXXX since operation not permitted (EPERM)", nothing else of why.
    expect(run.said).toContain(
      `Failed to listen on ${join(run.dir, "s.handover")} since a socket appeared there`,
    );
    const privateName = run.left.find((name) => name.startsWith("s.~"));
    expect(privateName).toBeDefined();
    expect(run.said).toContain(
      `${join(run.dir, privateName ?? "")}, which this start made, is left (EPERM: its directory ${run.dir} is append-only (chattr +a;`,
    );
    // Before: "could not remove DIR/region, which this failed start created: EPERM: operation not permitted, unlink ...".
    expect(run.said).toContain(
      `could not remove ${join(run.dir, "region")}, which this failed start created (EPERM: its directory ${run.dir} is append-only (chattr +a;`,
    );
    expect(existsSync(join(run.dir, "region"))).toBe(true);
  },
  60_000,
);

testUnless(
  skipped,
  "the state journal's first write fails (its fsync EIO), its half-written copy's removal too: the failure said, the copy left said",
  async () => {
    const run = await startStopped("snapshot", () => [
      ...["-e", "trace=fsync"],
      ...["-e", "inject=fsync:error=EIO:signal=SIGSTOP:when=1"],
    ]);
    expect(run.log).toContain("(INJECTED)");
    expect(run.code).toBe(1);
    const copy = run.left.find((name) => name.startsWith("region.state.tmp-"));
    expect(copy).toBeDefined();
    // Before: "Failed to write the state file ... since its directory DIR is append-only ...": the removal's
    // EPERM, told as the reason the journal could not be written.
    expect(run.said).toContain(`Failed to write the state file ${join(run.dir, "region.state")} since EIO`);
    expect(run.said).toContain(
      `${join(run.dir, copy ?? "")}, a copy of the state journal being written, is left (EPERM: its directory ${run.dir} is append-only (chattr +a;`,
    );
  },
  60_000,
);
