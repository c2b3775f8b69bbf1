/**
 * An arbiter whose files were removed under it, and a second started on the same paths from another PID
 * namespace (a container sharing /dev/shm with the host, `docker run --ipc=host`): /proc/locks there does
 * not list a lock held by a process it cannot see, so the second found the journal held by nobody, took it
 * over and renamed its own over it, and the first's allocations were recorded nowhere. Now whether the
 * journal is held is tried (a shared flock, let go at once), not only looked up. The second arbiter runs
 * under `unshare --pid --mount-proc`; the first is a process of the test's own namespace.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { socketAnswers } from "../src/host/listener.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, eventually, exitOrKill, livenessBoundMs } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { testUnless } from "./helpers/tools.ts";

let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("journal-other-namespace");
});
afterAll(() => paths?.cleanup());

const GEOMETRY = ["--size", "16MiB", "--block-size", "64KiB", "--slots", "16", "--lease", "1s"];

/** unshare's words for a new PID namespace with its own /proc (root's, else in a user namespace too). */
function unshareWords(): string[] | undefined {
  const base = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"];
  for (const words of [base, [...base, "--user", "--map-root-user"]]) {
    const tried = Bun.spawnSync([...words, "true"], { stdout: "ignore", stderr: "ignore" });
    if (tried.exitCode === 0) return words;
  }
  return undefined;
}

const UNSHARE = Bun.which("unshare") ? unshareWords() : undefined;

function host(region: string, socket: string, state: string, prefix: string[] = []) {
  const args = [process.execPath, CLI, "host", "--exit-with-parent", "--region", region, "--socket", socket];
  return tracked(
    Bun.spawn([...prefix, ...args, "--state", state, ...GEOMETRY], {
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1" },
    }),
  );
}

testUnless(
  UNSHARE ? undefined : "unshare cannot make a PID namespace here (util-linux missing, or not permitted)",
  "a start in another PID namespace on a --state a running arbiter holds is refused",
  async () => {
    const [region, state] = [join(paths.shmDir, "first"), join(paths.dir, "first.state")];
    const socket = join(paths.dir, "first.sock");
    const first = host(region, socket, state);
    await eventually(() => socketAnswers(socket), livenessBoundMs(1000), "the first arbiter to listen");
    const client = await connect({ socket, region, name: "precious" });
    const secondSocket = join(paths.dir, "second.sock");
    try {
      await client.alloc(4096, { name: "precious" });
      rmSync(region);
      rmSync(state);
      await eventually(
        async () => existsSync(state),
        livenessBoundMs(1000),
        "the journal to be written again",
      );
      const second = host(region, secondSocket, state, UNSHARE);
      const said = new Response(second.stderr).text();
      // Not refused, it served (until killed here) with its own journal renamed over the first's.
      expect(await exitOrKill(second, EXIT_BOUND_MS)).toBe(1);
      expect(await said).toContain("another arbiter (a process this one cannot see");
      expect(existsSync(region)).toBe(false);
      expect(existsSync(secondSocket)).toBe(false);
      expect(readFileSync(state, "utf8")).toContain('"name":"precious"');
    } finally {
      await client.close({ waitForArbiter: false }).catch(() => undefined);
      first.kill("SIGKILL");
      await first.exited;
    }
  },
  90_000,
);
