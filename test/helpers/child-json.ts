/**
 * Code run in a child Bun, for what it does to its own process (its threads' scheduling, its resource
 * limits): this test process could not undo it, nor be measured clean after it.
 */
import { expect } from "bun:test";
import { tracked } from "./reaper.ts";

/** What `bun ARGS` printed on stdout, one JSON value, once it exited 0 with nothing on stderr. */
export async function childJson(args: string[], env: Record<string, string> = {}): Promise<unknown> {
  const child = tracked(
    Bun.spawn([process.execPath, ...args], {
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, ...env },
    }),
  );
  const [exitCode, stdout, stderr] = await Promise.all([
    child.exited,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  expect(stderr).toBe("");
  expect(exitCode).toBe(0);
  return JSON.parse(stdout);
}
