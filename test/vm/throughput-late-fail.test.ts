/**
 * scripts/qemu/throughput.sh whose host end fails only after the VM has ended (launch.sh gone): the script
 * must still wait for its host ends and fail (exit 1) with that end's log. Looked at right after launch.sh
 * ended, it found no failure yet and exited 0, the figures standing. The host's ivsh is a wrapper (--ivsh)
 * whose receiver, once it has received, waits for launch.sh (named `--name tpPID`, PID the script's) to
 * be gone, then exits 3.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "../helpers/paths.ts";
import { exitOrKill } from "../helpers/processes.ts";
import { tracked } from "../helpers/reaper.ts";
import { testWithTool } from "../helpers/tools.ts";
import { BINARY, ensureBinary, vmProcesses } from "./vm.ts";

/** A liveness bound only: a run of 1 MiB takes seconds to a minute under TCG. */
const BOUND_MS = 300_000;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync("/tmp/ivsh-test-throughput-late-");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

testWithTool(
  "qemu-system-x86_64",
  "throughput.sh whose host receiver fails after the VM has ended still exits 1, showing its log",
  async () => {
    await ensureBinary();
    // The script's pid: the wrapper's parent is the host end's loop, a subshell of the script.
    const late = [
      '"$REAL" "$@"',
      "script=$(cut -d' ' -f4 /proc/$PPID/stat)",
      'while pgrep -f -- "--name tp$script " >/dev/null; do sleep 0.1; done',
      'echo "stand-in: this receiver failed after the VM ended" >&2',
      "exit 3",
    ].join("; ");
    const ivsh = join(dir, "ivsh-late-recv");
    writeFileSync(
      ivsh,
      `#!/bin/sh\nREAL=${BINARY}\nif [ "$1 $2" = "guest recv" ]; then ${late}; fi\nexec "$REAL" "$@"\n`,
    );
    chmodSync(ivsh, 0o755);
    const run = tracked(
      Bun.spawn(
        ["bash", join(REPO, "scripts/qemu/throughput.sh"), "--runs", "1", "--size", "1M", "--ivsh", ivsh],
        { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
      ),
    );
    const [code, stdout, stderr] = await Promise.all([
      exitOrKill(run, BOUND_MS),
      new Response(run.stdout).text(),
      new Response(run.stderr).text(),
    ]);
    const left = vmProcesses(`tp${run.pid}`);
    for (const pid of left) process.kill(pid, "SIGKILL");
    expect(left).toEqual([]);
    // The guest's side passed: its figures are there, and the host end's failure fails the script all the same.
    expect(stdout).toMatch(/run 1 ivsh g2h wall /);
    expect({ code, stderr }).toEqual({
      code: 1,
      stderr: expect.stringContaining(
        "a host end of the ivsh transfers (ivsh guest send/recv) failed; its log:",
      ),
    });
    expect(stderr).toContain("  | stand-in: this receiver failed after the VM ended");
  },
  BOUND_MS + 30_000,
);
