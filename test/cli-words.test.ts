/** Words on the command line that citty would misread: a typo beside a required flag, a word like -5. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { runCli } from "./helpers/processes.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("cli-words");
});
afterAll(() => paths?.cleanup());

describe("an unknown flag is named even where a required argument is missing", () => {
  for (const [args, unknown] of [
    [["bridge", "--vn", "x"], "--vn"],
    [["compact-state", "--stat", "x"], "--stat"],
    [["guest", "send", "--chanel", "c"], "--chanel"],
  ] as const)
    test(args.join(" "), async () => {
      const result = await runCli([...args]);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain(`Unknown option ${unknown}`);
      expect(result.stderr).not.toContain("Missing required");
    });

  test("a required argument really missing is still said", async () => {
    const result = await runCli(["bridge"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("Missing required argument: --vm");
  });
});
