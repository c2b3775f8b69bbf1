/**
 * The test helpers' own hygiene: an arbiter that a failing test leaves running (it threw before
 * `arbiter.stop()`) is killed before the next test file starts, and none outlives the runner.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, eventually, exitOrKill } from "./helpers/processes.ts";

const dir = mkdtempSync(join("/tmp", "ivsh-hygiene-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a test file that fails with its arbiter running: the arbiter is gone before the next file, and after the runner", async () => {
  const pidFile = join(dir, "arbiter.pid");
  const runner = Bun.spawn(
    [
      process.execPath,
      "test",
      "./test/fixtures/leftover/starts-and-fails.ts",
      "./test/fixtures/leftover/checks-gone.ts",
    ],
    {
      cwd: REPO,
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1", LEFTOVER_PID_FILE: pidFile },
    },
  );
  const output = Promise.all([new Response(runner.stdout).text(), new Response(runner.stderr).text()]);
  expect(await exitOrKill(runner, 2 * EXIT_BOUND_MS)).toBe(1);
  const said = (await output).join("\n");
  // The first file failed as it should; the second found its arbiter gone.
  expect(said).toContain("(fail) starts an arbiter, then fails before stopping it");
  expect(said).toContain("(pass) the arbiter the previous file left running is gone");
  expect(said).toMatch(/ 1 pass\n 1 fail/);
  const pid = Number(readFileSync(pidFile, "utf8"));
  await eventually(async () => !running(pid), 10_000, `the end of the arbiter (pid ${pid})`);
}, 120_000);

function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

test("no test is skipped without saying why: skips go through testUnless (helpers/tools.ts), which prints the reason", () => {
  const silent = Array.from(new Bun.Glob("test/**/*.ts").scanSync({ cwd: REPO }))
    .filter((file) => file !== "test/helpers/tools.ts" && file !== "test/test-hygiene.test.ts")
    .filter((file) =>
      /\b(test|it|describe)\.(skip|skipIf|todo|only|if)\b/.test(readFileSync(join(REPO, file), "utf8")),
    );
  expect(silent).toEqual([]);
});

test("no test runs `npm pack` in the checkout but through packCheckout (helpers/npm-project.ts), which packs one at a time", () => {
  const unlocked = Array.from(new Bun.Glob("test/**/*.ts").scanSync({ cwd: REPO }))
    .filter((file) => file !== "test/test-hygiene.test.ts")
    .filter((file) => /\["npm", "pack"/.test(readFileSync(join(REPO, file), "utf8")));
  expect(unlocked).toEqual([]);
});
