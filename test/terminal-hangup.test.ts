/**
 * SIGHUP as a closed terminal or a dropped ssh session sends it: the terminal is gone, so every write to
 * it fails (EIO). The command must still end as interrupted (129), cleaning up as on Ctrl-C, not crash
 * on its first line of progress or error. python3's pty module gives the command a terminal of its own,
 * whose master end the test closes.
 */
import { expect } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fetchStatus } from "../src/guest/inspect.ts";
import { CLI } from "./helpers/paths.ts";
import { eventually, livenessBoundMs } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { testWithTool } from "./helpers/tools.ts";
import { clientEnv } from "./helpers/transfer.ts";

const LEASE_MS = 2000;
const suite = sharedArbiter("hangup", { size: "16MiB", lease: `${LEASE_MS}ms` });

/** Runs argv on a new terminal; once it wrote to it, hangs the terminal up; prints the exit code. */
const HANG_UP = `
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
os.read(fd, 1)
os.close(fd)
print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
`;

testWithTool(
  "python3",
  "recv waiting for a sender when its terminal hangs up: exit 129, no FILE.partial left",
  async () => {
    const out = join(suite.paths.dir, "hangup.out");
    const argv = [process.execPath, CLI, "guest", "recv", "--channel", "hangup", "--out", out, "--progress"];
    const run = tracked(
      Bun.spawn(["python3", "-c", HANG_UP, ...argv], {
        stdout: "pipe",
        stderr: "pipe",
        env: { ...process.env, NO_COLOR: "1", ...clientEnv(suite.paths) },
      }),
    );
    const [stdout, stderr] = await Promise.all([
      new Response(run.stdout).text(),
      new Response(run.stderr).text(),
    ]);
    expect(await run.exited, stderr).toBe(0);
    expect(stdout.trim()).toBe("129");
    expect(existsSync(`${out}.partial`)).toBe(false);
    await eventually(
      async () => (await fetchStatus({ unix: suite.socket })).report.clients.length <= 1,
      livenessBoundMs(LEASE_MS),
      "the receiver's session ended",
    );
  },
);
