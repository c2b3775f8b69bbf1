/**
 * `ivsh bench --scale --vm --json FILE` when the guest measurement after the scale run fails (a VM that
 * does not boot, a guest binary that does not work): the scale run's results, measured by then, must still
 * reach FILE; the run still fails, saying why. The guest failure was thrown before the JSON was written.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI } from "../helpers/paths.ts";
import { exitOrKill } from "../helpers/processes.ts";
import { tracked } from "../helpers/reaper.ts";
import { testUnless, toolMissing } from "../helpers/tools.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync("/tmp/ivsh-bench-test-guests-fail-");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

testUnless(
  toolMissing("qemu-system-x86_64"),
  "a guest measurement that fails after --scale: its --json still holds the scale run's results",
  async () => {
    // Passes the prerequisite check (it names bench-worker), then fails in the guest.
    const guest = join(dir, "fake-ivsh");
    writeFileSync(guest, '#!/bin/sh\necho "bench-worker: not really"\nexit 3\n');
    chmodSync(guest, 0o755);
    const json = join(dir, "scale.json");
    const run = tracked(
      Bun.spawn([process.execPath, CLI, "bench", "--scale", "--quick", "--vm", "--json", json], {
        stdin: "ignore",
        stdout: "ignore",
        stderr: "pipe",
        env: { ...process.env, NO_COLOR: "1", IVSH_GUEST_BINARY: guest },
      }),
    );
    const [exitCode, stderr] = await Promise.all([exitOrKill(run, 240_000), new Response(run.stderr).text()]);
    expect(stderr).toContain("case A");
    expect(stderr).toContain("Failed to measure");
    expect(exitCode).toBe(1);
    expect(existsSync(json), stderr).toBe(true);
    const written = JSON.parse(readFileSync(json, "utf8"));
    expect(written.restart).toBeDefined();
    expect(written.guests).toBeUndefined();
  },
  300_000,
);
