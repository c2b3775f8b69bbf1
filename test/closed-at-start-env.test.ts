/**
 * IVSH_CLOSED_AT_START (src/ffi/descriptor-flags.ts) describes the process the package's launcher
 * (bin/ivsh.mjs) started: which of its standard descriptors were closed when it started. It is taken out
 * of the environment at once, so the programs ivsh starts do not inherit it: kept, each of them took its
 * own stdin or stdout (a pipe to ivsh) for closed, and refused to read or write it. Here `ivsh host`, given
 * it, starts its compaction helper (`ivsh compact-state`), whose environment strace records at its execve.
 */
import { expect } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { socketAnswers } from "../src/host/listener.ts";
import { CLI, testPaths } from "./helpers/paths.ts";
import { eventually, exitOrKill, livenessBoundMs } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { testWithTool } from "./helpers/tools.ts";

/** The children of process `pid` (every thread's). */
function childrenOf(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
    readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").split(" ").filter(Boolean).map(Number),
  );
}

testWithTool(
  "strace",
  "the launcher's IVSH_CLOSED_AT_START reaches ivsh host, not the compaction helper it starts",
  async () => {
    const paths = testPaths("mut13-closed-env");
    const log = join(paths.dir, "execve.log");
    const host = tracked(
      Bun.spawn(
        [
          ...["strace", "-f", "--seccomp-bpf", "-qq", "-v", "-s", "4096", "-e", "trace=execve", "-o", log],
          ...[process.execPath, CLI, "host", "--region", paths.region, "--socket", paths.socket],
          ...["--state", paths.state, "--size", "16MiB", "--block-size", "4KiB", "--lease", "1s"],
        ],
        {
          stdout: "ignore",
          stderr: "pipe",
          env: { ...process.env, NO_COLOR: "1", IVSH_COMPACT_AFTER_RECORDS: "5", IVSH_CLOSED_AT_START: "0" },
        },
      ),
    );
    try {
      await eventually(() => socketAnswers(paths.socket), livenessBoundMs(1000), "the arbiter to listen");
      const client = await connect({ socket: paths.socket, region: paths.region, name: "appender" });
      try {
        const compacted = async () => {
          await (await client.alloc(4096)).free();
          return (await fetchStatus({ unix: paths.socket }, 0)).report.compactions > 0;
        };
        await eventually(compacted, livenessBoundMs(1000), "a compaction");
      } finally {
        await client.close();
      }
      const execs = readFileSync(log, "utf8")
        .split("\n")
        .filter((line) => line.includes("execve("));
      const started = (word: string) => execs.filter((line) => line.includes(`"${word}"`));
      // The control: the arbiter itself was given it.
      expect(started("host").some((line) => line.includes('"IVSH_CLOSED_AT_START=0"'))).toBe(true);
      const helpers = started("compact-state");
      expect(helpers.length).toBeGreaterThan(0);
      expect(helpers.filter((line) => line.includes("IVSH_CLOSED_AT_START"))).toEqual([]);
    } finally {
      // strace ends with its tracee: the arbiter (its child) is stopped, not strace, which would let it go.
      for (const pid of childrenOf(host.pid)) process.kill(pid, "SIGTERM");
      if ((await exitOrKill(host, livenessBoundMs(10_000))) === "late") host.kill("SIGKILL");
      paths.cleanup();
    }
  },
  60_000,
);
