/**
 * scripts/qemu/throughput.sh whose transfer fails must fail (exit 1) and say which, not print a figure for
 * it and exit 0. The host's ends ran in the background and no one looked at their exit status (their log
 * was removed at exit, unread), and the guest's script piped each ivsh command into its rate's parser and
 * ended with an echo: a failed or short transfer gave a line of figures and exit 0. Here the host's ivsh is
 * a wrapper (--ivsh) that breaks one end: a host receiver that exits 3 once it has received, and a host
 * sender that sends 1000 bytes of the file only (a transfer that passes, short).
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { REPO } from "../helpers/paths.ts";
import { exitOrKill } from "../helpers/processes.ts";
import { tracked } from "../helpers/reaper.ts";
import { testWithTool } from "../helpers/tools.ts";
import { BINARY, ensureBinary, vmProcesses } from "./vm.ts";

/** A liveness bound only: a run of 1 MiB takes seconds to a minute under TCG. */
const BOUND_MS = 300_000;
/** How long its cleanup (launch.sh stopping QEMU) may take once it is stopped: a liveness bound too. */
const STOP_MS = 60_000;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync("/tmp/ivsh-test-throughput-fail-");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A host ivsh that runs `broken` (sh, REAL is the real binary) for `guest KIND`, else the real one. */
function wrapper(kind: "send" | "recv", broken: string): string {
  const path = join(dir, `ivsh-broken-${kind}`);
  const text = `#!/bin/sh\nREAL=${BINARY}\nif [ "$1 $2" = "guest ${kind}" ]; then ${broken}; fi\nexec "$REAL" "$@"\n`;
  writeFileSync(path, text);
  chmodSync(path, 0o755);
  return path;
}

/**
 * Its exit code, or "late" past the bound, when it is stopped with SIGTERM: its cleanup stops the VM, the
 * arbiter and the host's ends and removes its directories. Killed (SIGKILL) at once, it left them all,
 * and they held its stdout open: the test hung reading it until its own timeout, its VM never stopped.
 */
async function exitOrStop(run: Subprocess): Promise<number | "late"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), BOUND_MS);
  });
  const outcome = await Promise.race([run.exited, late]);
  clearTimeout(timer);
  if (outcome !== "late") return outcome;
  run.kill("SIGTERM");
  await exitOrKill(run, STOP_MS);
  return "late";
}

async function throughput(ivsh: string): Promise<{ code: number | "late"; stdout: string; stderr: string }> {
  await ensureBinary();
  const run = tracked(
    Bun.spawn(
      ["bash", join(REPO, "scripts/qemu/throughput.sh"), "--runs", "1", "--size", "1M", "--ivsh", ivsh],
      {
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      },
    ),
  );
  const [code, stdout, stderr] = await Promise.all([
    exitOrStop(run),
    new Response(run.stdout).text(),
    new Response(run.stderr).text(),
  ]);
  const left = vmProcesses(`tp${run.pid}`);
  for (const pid of left) process.kill(pid, "SIGKILL");
  expect(left).toEqual([]);
  return { code, stdout, stderr };
}

/**
 * throughput.sh with `ivsh` as the host's, which must exit 1 with the guest's line `failed` (a FAILED one)
 * on its stdout; its output, for what else the case checks.
 */
async function failedRun(ivsh: string, failed: string): Promise<{ stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await throughput(ivsh);
  expect({ code, stdout }).toEqual({ code: 1, stdout: expect.stringContaining(failed) });
  return { stdout, stderr };
}

/** A host sender's stand-in (sh, for `wrapper`) that sends only the first 1000 bytes of its file. */
const SENDS_1000 = `f=$3; shift 3; head -c 1000 "$f" | "$REAL" guest send - "$@"`;

testWithTool(
  "qemu-system-x86_64",
  "throughput.sh whose host receiver fails exits 1, showing the host end's log",
  async () => {
    const ivsh = wrapper("recv", `"$REAL" "$@"; echo "stand-in: this receiver failed" >&2; exit 3`);
    const { code, stderr } = await throughput(ivsh);
    expect({ code, stderr }).toEqual({
      code: 1,
      stderr: expect.stringContaining("a host end of the ivsh transfers (ivsh guest send/recv) failed"),
    });
    expect(stderr).toContain("  | stand-in: this receiver failed");
  },
  BOUND_MS + STOP_MS + 30_000,
);

testWithTool(
  "qemu-system-x86_64",
  "throughput.sh whose host sender sends a short file exits 1; the guest's line says FAILED, not a figure",
  async () => {
    const ivsh = wrapper("send", `${SENDS_1000}; exit`);
    const { stdout, stderr } = await failedRun(ivsh, "run 1 ivsh h2g FAILED (1000 of 1048576 bytes)");
    expect(stdout).toMatch(/run 1 ivsh g2h wall /);
    expect(stderr).toContain("exit 1 (boot");
  },
  BOUND_MS + STOP_MS + 30_000,
);

testWithTool(
  "qemu-system-x86_64",
  "throughput.sh whose host end fails with the guest's side shows the host end's log too",
  async () => {
    // A sender that failed after its first 1000 bytes: the guest's recv, short, fails as well, and the
    // script exited with launch.sh's status before it looked at the host's ends, their log removed unread.
    const ivsh = wrapper("send", `${SENDS_1000}; echo "stand-in: this sender failed" >&2; exit 3`);
    const { stderr } = await failedRun(ivsh, "run 1 ivsh h2g FAILED (1000 of 1048576 bytes)");
    expect(stderr).toContain("a host end of the ivsh transfers (ivsh guest send/recv) failed; its log:");
    expect(stderr).toContain("  | stand-in: this sender failed");
  },
  BOUND_MS + STOP_MS + 30_000,
);

testWithTool(
  "qemu-system-x86_64",
  "throughput.sh whose host receiver fails before it connects ends: the guest's send says FAILED",
  async () => {
    // The guest's send waited for a receiver for ever, and the script with it (the host's loop ended).
    const ivsh = wrapper("recv", `echo "stand-in: this receiver failed before it connected" >&2; exit 3`);
    const { stdout, stderr } = await failedRun(ivsh, "run 1 ivsh g2h FAILED (exit 1)");
    expect(stdout).toMatch(/run 1 ivsh h2g wall /);
    expect(stderr).toContain("no receiver showed up within 1 min 0 s (--timeout)");
    expect(stderr).toContain("  | stand-in: this receiver failed before it connected");
  },
  BOUND_MS + STOP_MS + 30_000,
);
