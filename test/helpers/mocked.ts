/**
 * Runs a test file of test/fixtures/mocked/ in its own `bun test` process (its module mocks would reach
 * every test file after it in this one) and returns what it printed, once it passed.
 */
import { expect } from "bun:test";
import { REPO } from "./paths.ts";
import { EXIT_BOUND_MS, exitOrKill } from "./processes.ts";

export async function runMockedTests(name: string, env: Record<string, string> = {}): Promise<string> {
  const runner = Bun.spawn([process.execPath, "test", `./test/fixtures/mocked/${name}.ts`], {
    cwd: REPO,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", ...env },
  });
  const output = Promise.all([new Response(runner.stdout).text(), new Response(runner.stderr).text()]);
  const code = await exitOrKill(runner, 4 * EXIT_BOUND_MS);
  const said = (await output).join("\n");
  expect({ code, said }).toMatchObject({ code: 0 });
  expect(said).toMatch(/ 0 fail\n/);
  return said;
}
