/** The command line refuses what it cannot take faithfully: arguments that are not UTF-8, flag values out of range. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { runCli } from "./helpers/processes.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("cli-inputs");
});
afterAll(() => paths?.cleanup());

/**
 * Runs the CLI from a shell so that `$(printf '\xff')` passes real bytes that are not UTF-8, as a user's
 * shell does (a JavaScript string cannot carry them).
 */
async function runShell(script: string): Promise<{ exitCode: number; stderr: string }> {
  const proc = Bun.spawn(["sh", "-c", script, "sh", process.execPath, CLI], {
    cwd: paths.dir,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", IVSH_SOCKET: join(paths.dir, "none.sock") },
  });
  const [exitCode, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  return { exitCode, stderr };
}

describe("arguments that are not UTF-8", () => {
  test("a FILE whose name is not UTF-8: a usage error naming FILE, not 'no such file'", async () => {
    // The file exists: before, ivsh looked for "in\uFFFD" and said there was no such file.
    const result = await runShell(
      `printf x > "$(printf 'in\\377')"; "$1" "$2" guest send "$(printf 'in\\377')"`,
    );
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("Failed to use FILE 'in\uFFFD' since it is not valid UTF-8");
    expect(result.stderr).toContain("send it via stdin");
  });

  test("a --channel that is not UTF-8 is refused (two such names would meet on one channel)", async () => {
    const result = await runShell(`"$1" "$2" guest recv --channel "$(printf 'trial-\\376')" --out o1`);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("Failed to use --channel 'trial-\uFFFD' since it is not valid UTF-8");
    const inline = await runShell(`"$1" "$2" guest send --channel="$(printf 'trial-\\377')" -`);
    expect(inline.exitCode).toBe(2);
    expect(inline.stderr).toContain("--channel 'trial-\uFFFD'");
  });

  test("an --out that is not UTF-8 is refused before any file is created", async () => {
    const result = await runShell(`"$1" "$2" guest recv --channel c --out "$(printf 'out\\376')"`);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("Failed to use --out 'out\uFFFD'");
    expect(readdirSync(paths.dir).filter((name) => name.startsWith("out"))).toEqual([]);
  });

  test("other commands' flags too (status --connect)", async () => {
    const result = await runCli(["status", "--connect", "h\uFFFDst:1"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("--connect 'h\uFFFDst:1' since it is not valid UTF-8");
    expect(existsSync(join(paths.dir, "none.sock"))).toBe(false);
  });
});
