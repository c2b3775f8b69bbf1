/**
 * `ivsh bench --vm` (and `--scale --vm`) where qemu-system-x86_64 is not on PATH: refused before it measures,
 * naming QEMU and what to do. It was found only at the first VM boot, after minutes of host measurements,
 * when launch.sh tried to install QEMU with apt-get and then failed ("the guest gave no result"), the run's
 * results lost. PATH here is this one's programs less QEMU's, linked into a directory of the test's own.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathWithout } from "../helpers/path-without.ts";
import { CLI } from "../helpers/paths.ts";
import { tracked } from "../helpers/reaper.ts";

let dir: string;
let bin: string;
beforeAll(() => {
  dir = mkdtempSync("/tmp/ivsh-bench-test-no-qemu-");
  bin = pathWithout(dir, "qemu-system");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `ivsh bench ARGS` without QEMU on PATH; stops it once it starts measuring (the defect). */
async function withoutQemu(
  args: string[],
  path = bin,
  cwd?: string,
): Promise<{ exitCode: number; stderr: string }> {
  const run = tracked(
    Bun.spawn([process.execPath, CLI, "bench", ...args], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1", PATH: path },
      cwd,
    }),
  );
  let stderr = "";
  const decoder = new TextDecoder();
  for await (const bytes of run.stderr) {
    stderr += decoder.decode(bytes, { stream: true });
    // Measuring started: the refusal did not come first. Stopped here rather than after minutes, by Ctrl-C's
    // signal, on which the run removes what it made.
    if (/warming up|scale: /.test(stderr)) run.kill("SIGINT");
  }
  return { exitCode: await run.exited, stderr };
}

test("--vm without qemu-system-x86_64 on PATH is refused before the benchmark measures", async () => {
  expect(Bun.which("qemu-system-x86_64", { PATH: bin })).toBeNull();
  for (const args of [
    ["--vm", "--quick"],
    ["--scale", "--vm", "--quick"],
  ]) {
    const { exitCode, stderr } = await withoutQemu(args);
    expect(stderr).not.toContain("warming up");
    expect(stderr).toContain(
      "Failed to measure through VMs (--vm) since qemu-system-x86_64 is not on PATH: install QEMU (apt-get install qemu-system-x86), or run without --vm",
    );
    expect({ args, exitCode }).toEqual({ args, exitCode: 1 });
  }
}, 60_000);

// A qemu-system-x86_64 on PATH that this user may not run (its mode 0644): said so, where it was called
// "not on PATH" and the advice was to install what is installed.
test("--vm with a qemu-system-x86_64 on PATH that is not executable says which file and what to do", async () => {
  const noExec = join(dir, "no-exec");
  mkdirSync(noExec);
  const qemu = join(noExec, "qemu-system-x86_64");
  writeFileSync(qemu, "#!/bin/sh\n", { mode: 0o644 });
  const { exitCode, stderr } = await withoutQemu(["--vm", "--quick"], `${noExec}:${bin}`);
  expect(stderr).toContain(
    `Failed to measure through VMs (--vm) since ${qemu} is not executable by this user: make it so (chmod +x), or run without --vm`,
  );
  expect(exitCode).toBe(1);
}, 60_000);

// An empty PATH entry, which Bun.which skips: a runnable qemu-system-x86_64 in the working directory is not
// on PATH for it, and was called "not executable" (the empty entry read as ".").
test("--vm with an empty PATH entry and a runnable qemu-system-x86_64 in the working directory: not on PATH", async () => {
  const here = join(dir, "cwd");
  mkdirSync(here);
  writeFileSync(join(here, "qemu-system-x86_64"), "#!/bin/sh\n", { mode: 0o755 });
  const { exitCode, stderr } = await withoutQemu(["--vm", "--quick"], `${bin}:`, here);
  expect(stderr).toContain("since qemu-system-x86_64 is not on PATH: install QEMU");
  expect(exitCode).toBe(1);
}, 60_000);
