/**
 * `ivsh host`'s start line names its socket and region as absolute paths, whatever the command line gave:
 * a user copies them into another shell or directory (a client's --socket), where a relative path leads
 * elsewhere.
 */
import { expect, test } from "bun:test";
import { relative } from "node:path";
import { startLines } from "./helpers/host-run.ts";
import { testPaths } from "./helpers/paths.ts";

test("started with a relative --socket and --region, the serving line names both as absolute paths", async () => {
  const own = testPaths("serving-line");
  try {
    // Run in the region's directory: "region" and a "../.." path to the socket are relative to it.
    const socket = relative(own.shmDir, own.socket);
    expect(socket.startsWith("/")).toBe(false);
    const said = await startLines(
      ["--region", "region", "--socket", socket, "--state", own.state, "--size", "1MiB"],
      own.shmDir,
    );
    const line = said.split("\n").find((text) => text.includes("arbiter serving"));
    expect(line).toContain(`arbiter serving ${own.region} (`);
    expect(line).toContain(` on ${own.socket} with a `);
  } finally {
    own.cleanup();
  }
}, 60_000);
