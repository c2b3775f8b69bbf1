/**
 * `ivsh host` without --state keeps its journal beside the region, as REGION.state (its --help says
 * "default REGION.state", and a restart with the same --region finds it there).
 */
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { CLI, testPaths } from "./helpers/paths.ts";
import { eventually, runCli, spawnBun } from "./helpers/processes.ts";

test("ivsh host without --state writes its journal to REGION.state", async () => {
  const paths = testPaths("default-state");
  const host = spawnBun([
    ...[CLI, "host", "--exit-with-parent", "--region", paths.region, "--socket", paths.socket],
    ...["--size", "16MiB", "--slots", "64"],
  ]);
  try {
    await eventually(
      async () => (await runCli(["status", "--socket", paths.socket])).exitCode === 0,
      15_000,
      "the arbiter's answer",
    );
    expect(existsSync(`${paths.region}.state`)).toBe(true);
  } finally {
    host.proc.kill("SIGTERM");
    await host.exit();
    paths.cleanup();
  }
});
