/**
 * launch.sh with a bridge command that cannot run (--ivsh naming a missing program): each guest connection
 * runs it, fails alike, and its line went to launch.sh's stderr once per connection. A guest retrying
 * (connect() tries once a second through the bridge) flooded the log with one line per second, for as long
 * as it tried. A line the same as the one before is now counted, and the count said once another line comes.
 *
 * No VM boots: QEMU is a script of the test's own that runs the guestfwd command as a guest's connections
 * would, then writes a line of its own into the bridges' stderr, and waits until the test has read it. The
 * launch.sh run is a copy in a directory of its own, whose build/qemu holds a stand-in image.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "../helpers/paths.ts";
import { exitOrKill } from "../helpers/processes.ts";
import { tracked } from "../helpers/reaper.ts";
import { vmName } from "./vm.ts";

const CONNECTIONS = 5;

/** Runs the guestfwd command CONNECTIONS times, says "qemu: done" through the bridges' stderr, waits for GO. */
const FAKE_QEMU = `#!/bin/sh
for arg; do
  case "$arg" in *guestfwd=tcp:10.0.2.100:7777-cmd:*) bridge=\${arg#*7777-cmd:}; bridge=\${bridge%%,*} ;; esac
done
i=0
while [ $i -lt ${CONNECTIONS} ]; do "$bridge" </dev/null >/dev/null; i=$((i + 1)); done
echo "qemu: done" >"$(dirname "$bridge")/bridge.err"
n=0
while [ ! -e "$GO" ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
`;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync("/tmp/ivsh-test-bridge-repeats-");
  mkdirSync(join(dir, "repo/scripts/qemu"), { recursive: true });
  for (const script of ["launch.sh", "accel.sh", "stale.sh"])
    copyFileSync(join(REPO, "scripts/qemu", script), join(dir, "repo/scripts/qemu", script));
  mkdirSync(join(dir, "repo/build/qemu"), { recursive: true });
  for (const image of ["vmlinuz", "initramfs.cpio"])
    writeFileSync(join(dir, "repo/build/qemu", image), "stand-in");
  mkdirSync(join(dir, "bin"));
  writeFileSync(join(dir, "bin/qemu-system-x86_64"), FAKE_QEMU, { mode: 0o755 });
  mkdirSync(join(dir, "tmp"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a bridge command that fails alike at every guest connection is said once, then counted", async () => {
  const name = vmName("repeats");
  const go = join(dir, "go");
  const launch = join(dir, "repo/scripts/qemu/launch.sh");
  const missing = join(dir, "no-such-ivsh");
  const run = tracked(
    Bun.spawn(
      [
        "bash",
        launch,
        "--name",
        name,
        "--region",
        "none",
        "--no-build",
        "--accel",
        "tcg",
        "-q",
        "--ivsh",
        missing,
      ],
      {
        stdin: "ignore",
        stdout: "ignore",
        stderr: "pipe",
        env: {
          ...process.env,
          PATH: `${join(dir, "bin")}:${process.env.PATH}`,
          TMPDIR: join(dir, "tmp"),
          GO: go,
        },
      },
    ),
  );
  let stderr = "";
  try {
    const decoder = new TextDecoder();
    for await (const chunk of run.stderr) {
      stderr += decoder.decode(chunk, { stream: true });
      if (stderr.includes(`[bridge ${name}] qemu: done\n`)) break;
    }
  } finally {
    writeFileSync(go, "");
  }
  expect(await exitOrKill(run, 60_000)).toBe(0);
  const failed = stderr.split("\n").filter((line) => line.includes(missing));
  expect(failed).toHaveLength(1);
  expect(failed[0]).toStartWith(`[bridge ${name}] `);
  expect(stderr).toContain(`[bridge ${name}] (the line above came ${CONNECTIONS - 1} more times)\n`);
}, 90_000);
