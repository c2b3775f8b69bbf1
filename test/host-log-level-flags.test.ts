/**
 * `ivsh host`'s log level is set by one of --log-level, -q and -v (src/commands/host.ts logLevelOf): any
 * two of them, or all three, contradict each other and are a usage error (exit 2) before anything starts.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { testPaths } from "./helpers/paths.ts";
import { runCli } from "./helpers/processes.ts";

const paths = testPaths("host-log-levels");
afterAll(() => paths.cleanup());

test("two or three of --log-level, -q and -v are refused naming all three, and nothing is made", async () => {
  const where = [
    "--region",
    paths.region,
    "--socket",
    paths.socket,
    "--state",
    paths.state,
    "--size",
    "1MiB",
  ];
  for (const levels of [
    ["-q", "-v"],
    ["--log-level", "info", "-q"],
    ["--log-level", "debug", "-v"],
    ["-q", "-v", "--log-level", "warn"],
  ]) {
    const { exitCode, stderr } = await runCli(["host", ...where, ...levels]);
    expect({ levels, exitCode }).toEqual({ levels, exitCode: 2 });
    expect(stderr).toContain(
      "Failed to choose a log level since --log-level, -q and -v each set it: pass one of them",
    );
  }
  expect(existsSync(paths.region)).toBe(false);
  expect(existsSync(paths.socket)).toBe(false);
}, 60_000);
