/**
 * An `ivsh host` whose start fails late, once the region, its mailbox and the state journal are made: the
 * start removes what it made and keeps what was there (src/host/start.ts). Two late failures, made real:
 * the state journal's directory missing (its file cannot be made), and every bind(2) failing under strace
 * (the hand-over and main sockets cannot be bound, after the journal was written). The one test that
 * reached this before (a directory where the hand-over socket goes) is refused now before anything is made.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, testPaths } from "./helpers/paths.ts";
import { EventStream, exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { straceUnusable, testUnless } from "./helpers/tools.ts";

const paths = testPaths("start-failed-late");
afterAll(() => paths.cleanup());

const made = (region: string, state: string) =>
  [region, `${region}.wake`, state].filter((path) => existsSync(path));

async function host(prefix: string[], region: string, state: string, socket: string) {
  const command = tracked(
    Bun.spawn(
      [
        ...prefix,
        process.execPath,
        CLI,
        "host",
        "--region",
        region,
        "--size",
        "1MiB",
        "--state",
        state,
        "--socket",
        socket,
      ],
      { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } },
    ),
  );
  const stderr = new Response(command.stderr).text();
  const code = await exitOrKill(command, 30_000);
  return { code, stderr: await stderr };
}

test("a state journal that cannot be made: the region and mailbox this start made are removed, ones there before kept", async () => {
  const region = join(paths.shmDir, "no-state-dir");
  const state = join(paths.dir, "missing", "arbiter.state");
  const socket = join(paths.dir, "no-state-dir.sock");
  const fresh = await host([], region, state, socket);
  expect(fresh.code).toBe(1);
  expect(made(region, state)).toEqual([]);
  // A region (sized as asked) and a mailbox an operator made for the VMs: a failed start keeps them.
  writeFileSync(region, new Uint8Array(1 << 20));
  writeFileSync(`${region}.wake`, "");
  const existing = await host([], region, state, socket);
  expect(existing.code).toBe(1);
  expect(made(region, state)).toEqual([region, `${region}.wake`]);
  expect(statSync(region).size).toBe(1 << 20);
});

testUnless(
  straceUnusable(),
  "a start that cannot bind its sockets removes the region, mailbox and state journal it made",
  async () => {
    const region = join(paths.shmDir, "unbound");
    const state = join(paths.dir, "unbound.state");
    const socket = join(paths.dir, "unbound.sock");
    const failed = await host(
      ["strace", "-f", "-qq", "-o", "/dev/null", "-e", "inject=bind:error=EACCES"],
      region,
      state,
      socket,
    );
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/EACCES|permission/i);
    expect(made(region, state)).toEqual([]);
    expect(existsSync(socket)).toBe(false);
  },
  60_000,
);

// A process embedding the arbiter goes on after a failed start: one that failed once the arbiter was
// built left its state journal, mailbox and compactor open, a few descriptors per attempt.
testUnless(
  straceUnusable(),
  "startArbiter failing to bind, again and again, leaks no descriptor and leaves nothing in its directory",
  async () => {
    const dir = join(paths.shmDir, "embedded");
    mkdirSync(dir);
    const fixture = tracked(
      Bun.spawn(
        [
          "strace",
          "-f",
          "-qq",
          "-o",
          "/dev/null",
          "-e",
          "inject=bind:error=EACCES",
          process.execPath,
          join(import.meta.dir, "fixtures/bad-setting-start.ts"),
          JSON.stringify({ dir, attempts: 3 }),
        ],
        { stdout: "pipe", stderr: "inherit" },
      ),
    );
    const done = await new EventStream(fixture.stdout).next("done");
    expect(await exitOrKill(fixture, 30_000)).toBe(0);
    for (const refusal of [done.warmUp, ...(done.refusals as unknown[])])
      expect(JSON.stringify(refusal)).toMatch(/EACCES|permission/i);
    expect(done.after).toBe(done.before);
    expect(readdirSync(dir)).toEqual([]);
  },
  60_000,
);
