/**
 * A reader of ivsh's output that exits first (`ivsh status | head -1`, `ivsh --help | true`): what it
 * did not read is not an error of ivsh's (as src/log.ts `writeStandard` has it), so no stack trace nor
 * the runtime's crash banner, and the exit code is the command's own. Each case is a process whose
 * stdout (or stderr) is a pipe the test closed before the process wrote to it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("closed-reader");
});
afterAll(() => paths?.cleanup());

/** Runs `ivsh ARGS` with its `closed` output a pipe whose reader is gone; returns its exit code and the other output. */
async function withReaderGone(args: string[], closed: "stdout" | "stderr" = "stdout") {
  const child = Bun.spawn([process.execPath, CLI, ...args], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", IVSH_SOCKET: join(paths.dir, "none.sock") },
  });
  // Closed at once: the process takes far longer to start than this to run.
  await child[closed].cancel();
  const other = closed === "stdout" ? child.stderr : child.stdout;
  const [exitCode, text] = await Promise.all([child.exited, new Response(other).text()]);
  return { exitCode, text };
}

for (const [words, code] of [
  [["--version"], 0],
  [["--help"], 0],
  [["help", "guest", "send"], 0],
  [["completion", "bash"], 0],
] as const)
  test(`ivsh ${words.join(" ")} | (a reader that exits first): exit ${code}, nothing said`, async () => {
    const { exitCode, text } = await withReaderGone([...words]);
    expect(text).toBe("");
    expect(exitCode).toBe(code);
  });

test("ivsh status --json with no arbiter, its reader gone: exit 1, the one error line and no crash", async () => {
  const { exitCode, text } = await withReaderGone(["status", "--json"]);
  expect(text).not.toContain("EPIPE");
  expect(text).not.toMatch(/Bun v\d/);
  expect(text.trim().split("\n")).toHaveLength(1);
  expect(text).toContain("Failed to connect to the arbiter");
  expect(exitCode).toBe(1);
});

test("a usage error whose stderr reader is gone: exit 2, no crash on stdout either", async () => {
  const { exitCode, text } = await withReaderGone(["status", "--no-such-flag"], "stderr");
  expect(text).toBe("");
  expect(exitCode).toBe(2);
});
