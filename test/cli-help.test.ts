/**
 * How `--help` says a default: one that is a word is quoted, as a value typed would be ("(default
 * 'default')", the channel's name); a number, size or path is not ("(default 5s)", "(default /sys)").
 */
import { expect, test } from "bun:test";
import { runCli } from "./helpers/processes.ts";

test("a default that is a word is quoted, one that is a number, size or path is not", async () => {
  const { exitCode, stdout } = await runCli(["guest", "recv", "--help"]);
  expect(exitCode).toBe(0);
  expect(stdout).toContain("on it (default 'default')");
  expect(stdout).toContain("or - for stdout (default '-')");
  expect(stdout).toContain("(tests point this at a fake tree) (default /sys)");
  const host = await runCli(["host", "--help"]);
  expect(host.stdout).toContain("(default 5s)");
  expect(host.stdout).toContain("(default 1024)");
});
