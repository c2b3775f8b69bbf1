/**
 * `ivsh demo`, the README's main job, as a user runs it: it moves a generated file through ivsh and over
 * a Unix socket between separate processes, says both receivers got the original, and leaves nothing
 * behind, also when interrupted.
 */
import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { CLI } from "./helpers/paths.ts";
import { runCli, spawnBun } from "./helpers/processes.ts";

/** What the demo makes while it runs: its workspaces and the arbiter's temporary directories. */
function leftovers(): string[] {
  const ours = (dir: string) =>
    readdirSync(dir)
      .filter((name) => name.startsWith("ivsh-demo-"))
      .map((name) => `${dir}/${name}`);
  return [...ours("/dev/shm"), ...ours("/tmp")];
}

test("a small demo: both methods, both verified, a ratio, nothing left behind", async () => {
  const before = new Set(leftovers());
  const result = await runCli(["demo", "--size", "16MiB", "--rounds", "2"]);
  expect(result.exitCode, result.stderr).toBe(0);
  expect(result.stdout).toMatch(/ivsh +[\d.]+ GB\/s +\([\d.]+ s, digest xxh3:[0-9a-f]{16} verified\)/);
  expect(result.stdout).toMatch(/unix socket +[\d.]+ GB\/s/);
  expect(result.stdout).toContain("both receivers got exactly the original");
  expect(leftovers().filter((path) => !before.has(path))).toEqual([]);
});

test("interrupted (SIGINT) mid-run: exit 130, and it removes everything it made", async () => {
  const before = new Set(leftovers());
  const demo = spawnBun([CLI, "demo", "--size", "256MiB", "--rounds", "5"]);
  // Interrupted once it is under way (its workspace exists): the file is being generated or moved.
  const deadline = Date.now() + 20_000;
  while (leftovers().every((path) => before.has(path)) && Date.now() < deadline) await Bun.sleep(10);
  expect(leftovers().some((path) => !before.has(path))).toBe(true);
  demo.proc.kill("SIGINT");
  expect(await demo.exit()).toBe(130);
  expect(await demo.stderr).toContain("interrupted by SIGINT");
  expect(leftovers().filter((path) => !before.has(path))).toEqual([]);
});
