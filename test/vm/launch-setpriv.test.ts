/**
 * launch.sh --run starts QEMU (or timeout(1) running it) under `setpriv --pdeathsig TERM` (c92f7aa), as
 * long as setpriv is there. But --pdeathsig came with util-linux 2.33: the setpriv of an older one (RHEL 8's
 * 2.32, Ubuntu 18.04's 2.31) refuses it, and QEMU never ran ("the guest gave no result (QEMU exit 1)",
 * every time). Such a setpriv must be passed over, as a missing one is. Here a setpriv that refuses the
 * option as those do comes first on PATH; then no setpriv at all (PATH linked without it).
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathWithout } from "../helpers/path-without.ts";
import { exitOrKill } from "../helpers/processes.ts";
import { tracked } from "../helpers/reaper.ts";
import { testWithTool } from "../helpers/tools.ts";
import { ensureBinary, LAUNCH, vmName, vmProcesses } from "./vm.ts";

/** Liveness bound only: a TCG boot on a loaded 2-core machine takes 4–30 s. */
const BOUND_MS = 120_000;

/** What util-linux 2.32's setpriv says to an option it does not know (errtryhelp), and its exit status. */
const OLD_SETPRIV = `#!/bin/sh
for arg; do
  case $arg in --pdeathsig*)
    echo "setpriv: unrecognized option '--pdeathsig'" >&2
    echo "Try 'setpriv --help' for more information." >&2
    exit 1
  esac
done
exec /usr/bin/setpriv "$@"
`;

let dir: string;
let paths: Record<string, string>;
beforeAll(() => {
  dir = mkdtempSync("/tmp/ivsh-test-setpriv-");
  mkdirSync(join(dir, "old"));
  writeFileSync(join(dir, "old", "setpriv"), OLD_SETPRIV, { mode: 0o755 });
  paths = {
    "a setpriv without --pdeathsig": `${join(dir, "old")}:${process.env.PATH}`,
    "no setpriv": pathWithout(dir, "setpriv"),
  };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

for (const [setpriv, extra] of [
  ["a setpriv without --pdeathsig", []],
  ["a setpriv without --pdeathsig", ["--timeout", "900"]],
  ["no setpriv", []],
] as const) {
  testWithTool(
    "qemu-system-x86_64",
    `launch.sh ${[...extra, "--run"].join(" ")} with ${setpriv}: the guest command runs`,
    async () => {
      await ensureBinary();
      const name = vmName("setpriv");
      const run = tracked(
        Bun.spawn([LAUNCH, "--name", name, "--region", "none", ...extra, "--run", "echo up"], {
          stdin: "ignore",
          stdout: "pipe",
          stderr: "pipe",
          env: { ...process.env, PATH: paths[setpriv] },
        }),
      );
      try {
        const [stdout, stderr] = [new Response(run.stdout).text(), new Response(run.stderr).text()];
        const code = await exitOrKill(run, BOUND_MS);
        // Before, with the old setpriv: 125, "setpriv: unrecognized option '--pdeathsig'" and "the guest
        // gave no result (QEMU exit 1, ...)".
        const said = code === 0 ? "" : await stderr; // what launch.sh said, should it fail
        expect({ code, stdout: await stdout, said }).toEqual({ code: 0, stdout: "up\n", said: "" });
      } finally {
        for (const pid of vmProcesses(name)) process.kill(pid, "SIGKILL");
      }
    },
    2 * BOUND_MS,
  );
}
