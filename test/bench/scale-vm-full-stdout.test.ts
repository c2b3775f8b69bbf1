/**
 * `ivsh bench --scale --vm` with a full stdout (/dev/full): it writes two tables there, the scale run's and,
 * minutes later, the guest connections', and each failed alike; every failure but the last was printed and
 * the last thrown, so "Failed to write the output to stdout since no space left on device" came twice. Said
 * once now; the --json is still written, with the guests' results. Boots VMs where QEMU is installed.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { CLI } from "../helpers/paths.ts";
import { exitOrKill } from "../helpers/processes.ts";
import { tracked } from "../helpers/reaper.ts";
import { testUnless, toolMissing } from "../helpers/tools.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync("/tmp/ivsh-bench-test-vm-full-stdout-");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

testUnless(
  toolMissing("qemu-system-x86_64"),
  "--scale --vm with a full stdout: the failed write is said once, the --json still written",
  async () => {
    const json = join(dir, "scale.json");
    const bench = [process.execPath, CLI, "bench", "--scale", "--quick", "--vm", "--json", json];
    const run = tracked(
      Bun.spawn(["sh", "-c", 'exec "$@" > /dev/full', "sh", ...bench], {
        stdin: "ignore",
        stdout: "ignore",
        stderr: "pipe",
        env: { ...process.env, NO_COLOR: "1" },
      }),
    );
    const [exitCode, stderr] = await Promise.all([exitOrKill(run, 540_000), new Response(run.stderr).text()]);
    const full = "Failed to write the output to stdout since no space left on device";
    expect(stderr.split(full).length - 1, stderr).toBe(1);
    expect(exitCode).toBe(1);
    expect(JSON.parse(readFileSync(json, "utf8")).guests, stderr).toBeDefined();
  },
  600_000,
);
