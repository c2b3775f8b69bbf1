/**
 * `ivsh host`'s start line names its socket and region as absolute paths, whatever the command line gave:
 * a user copies them into another shell or directory (a client's --socket), where a relative path leads
 * elsewhere.
 */
import { expect, test } from "bun:test";
import { relative } from "node:path";
import { asParentOfArbiter } from "../src/host/parent.ts";
import { CLI, testPaths } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, exitOrKill, readUntil } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";

test("started with a relative --socket and --region, the serving line names both as absolute paths", async () => {
  const own = testPaths("serving-line");
  try {
    // Run in the region's directory: "region" and a "../.." path to the socket are relative to it.
    const socket = relative(own.shmDir, own.socket);
    expect(socket.startsWith("/")).toBe(false);
    const host = tracked(
      Bun.spawn(
        [
          process.execPath,
          CLI,
          "host",
          "--exit-with-parent",
          ...["--region", "region", "--socket", socket, "--state", own.state, "--size", "1MiB"],
        ],
        {
          cwd: own.shmDir,
          stdout: "ignore",
          stderr: "pipe",
          env: { ...process.env, NO_COLOR: "1", ...asParentOfArbiter() },
        },
      ),
    );
    const said = await readUntil(
      host.stderr,
      (text) => text.includes("arbiter serving") || host.exitCode !== null,
    );
    host.kill("SIGTERM");
    expect(await exitOrKill(host, EXIT_BOUND_MS)).toBe(0);
    const line = said.split("\n").find((text) => text.includes("arbiter serving"));
    expect(line).toContain(`arbiter serving ${own.region} (`);
    expect(line).toContain(` on ${own.socket} with a `);
  } finally {
    own.cleanup();
  }
}, 60_000);
