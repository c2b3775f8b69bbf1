/**
 * `ivsh status` names the arbiter's instance in hex ("instance 3f2a..."), as the errors that compare a
 * region's header with its arbiter do; `status --json` gave only the number (`arbiterInstance`, decimal),
 * so a user could not match the two. The JSON keeps that number and adds the same hex string.
 */
import { expect, test } from "bun:test";
import { runCli } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("lo14-status-instance");

test("status and status --json name the arbiter's instance the same way", async () => {
  const where = ["--socket", suite.paths.socket, "--region", suite.paths.region];
  const text = await runCli(["status", ...where]);
  const json = await runCli(["status", "--json", ...where]);
  expect([text.exitCode, json.exitCode]).toEqual([0, 0]);
  const shown = /\(instance ([0-9a-f]+)\)/.exec(text.stdout)?.[1];
  const report = JSON.parse(json.stdout) as { arbiterInstance: number; arbiterInstanceHex?: string };
  // Before: no arbiterInstanceHex; only the decimal number, the text's hex nowhere in the JSON.
  expect(report.arbiterInstanceHex).toBe(shown);
  // Still the number it was, for scripts that read it.
  expect(report.arbiterInstance).toBe(Number.parseInt(shown ?? "", 16));
});
