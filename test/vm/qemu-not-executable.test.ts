/**
 * launch.sh where the qemu-system-x86_64 on PATH may not be run by this user (mode 0644, a broken install):
 * bash's `command -v` names such a file when it finds none it may run, so launch.sh went on, built the
 * image, and then said "the guest gave no result (QEMU exit 126)". It must name the file and what to do,
 * before it does anything else. PATH here is this one's programs less QEMU's, linked into a directory of the
 * test's own, after a directory holding the unrunnable one. No VM boots.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathWithout } from "../helpers/path-without.ts";
import { tracked } from "../helpers/reaper.ts";
import { LAUNCH, vmName } from "./vm.ts";

let dir: string;
let bin: string;
let qemu: string;
beforeAll(() => {
  dir = mkdtempSync("/tmp/ivsh-test-qemu-no-exec-");
  bin = pathWithout(dir, "qemu-system");
  mkdirSync(join(dir, "no-exec"));
  qemu = join(dir, "no-exec", "qemu-system-x86_64");
  writeFileSync(qemu, "#!/bin/sh\n", { mode: 0o644 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("launch.sh with a qemu-system-x86_64 on PATH that is not executable names it and what to do", async () => {
  const run = tracked(
    Bun.spawn(["bash", LAUNCH, "--name", vmName("noexec"), "--region", "none", "--run", "true"], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, PATH: `${join(dir, "no-exec")}:${bin}` },
    }),
  );
  const stderr = await new Response(run.stderr).text();
  expect({ exitCode: await run.exited, stderr }).toEqual({
    exitCode: 125,
    stderr: `launch.sh: error: ${qemu} is not executable by this user: make it so (chmod +x)\n`,
  });
}, 60_000);
