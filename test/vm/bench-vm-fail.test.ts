/**
 * `ivsh bench --quick --vm --json FILE` whose VMs fail (here a QEMU that exits at once, as one killed or
 * unable to start would): the host's results, measured in the minutes before, must still reach stdout and
 * FILE, saying the VM results are missing and why, and the run must still fail naming the VM. The VM's
 * failure was thrown through the whole run: nothing was written, the host's results were lost.
 * QEMU is a stand-in on PATH, so no guest boots; the image is built as for a real run.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI } from "../helpers/paths.ts";
import { exitOrKill } from "../helpers/processes.ts";
import { tracked } from "../helpers/reaper.ts";
import { testUnless, toolMissing } from "../helpers/tools.ts";
import { ensureBinary } from "./vm.ts";

let dir: string;
beforeAll(async () => {
  dir = mkdtempSync("/tmp/ivsh-bench-test-vm-fail-");
  if (!toolMissing("qemu-system-x86_64")) await ensureBinary();
}, 300_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

testUnless(
  toolMissing("qemu-system-x86_64"),
  "a VM that fails after the host rounds: the tables and --json still hold the host's results",
  async () => {
    const bin = join(dir, "bin");
    mkdirSync(bin);
    const qemu = join(bin, "qemu-system-x86_64");
    writeFileSync(qemu, '#!/bin/sh\necho "qemu-system-x86_64: stand-in: no guest here" >&2\nexit 1\n');
    chmodSync(qemu, 0o755);
    const json = join(dir, "results.json");
    const run = tracked(
      Bun.spawn([process.execPath, CLI, "bench", "--quick", "--vm", "--json", json], {
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
        // IVSH_ACCEL=tcg: no KVM probe, which would run the stand-in and cache "tcg" for this host boot.
        env: { ...process.env, NO_COLOR: "1", IVSH_ACCEL: "tcg", PATH: `${bin}:${process.env.PATH}` },
      }),
    );
    const [exitCode, stdout, stderr] = await Promise.all([
      exitOrKill(run, 400_000),
      new Response(run.stdout).text(),
      new Response(run.stderr).text(),
    ]);
    expect(stderr).toContain("VM round 1 of 3");
    expect(stderr).toContain("Failed to run the benchmark VM (launch.sh)");
    expect(stderr).toContain("the guest gave no result (QEMU exit 1");
    // launch.sh's QEMU command line (thousands of characters) is left out of the message.
    expect(stderr).not.toContain("-nodefaults");
    expect(exitCode).toBe(1);
    // The host's tables, and a note saying why the VM rows are not there.
    expect(stdout).toContain("memcpy");
    expect(stdout).toContain("VM results: none, since the VM measurements failed");
    expect(stdout).not.toContain("VM guest → host");
    expect(existsSync(json), stderr).toBe(true);
    const written = JSON.parse(readFileSync(json, "utf8"));
    expect(JSON.stringify(written.notes)).toContain("VM results: none");
    // What failed, by its message (an error object in JSON is only its code and name).
    expect(written.plan.vm).toBe(true);
    expect(written.failures).toEqual([expect.stringContaining("the guest gave no result")]);
  },
  500_000,
);
