/**
 * What `ivsh host` says as it stops on SIGTERM: that the allocations stay in the state journal for the next
 * start only when they do. The arbiter is a process of its own; its journal's directory is removed under it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { socketAnswers } from "../src/host/listener.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, eventually, exitOrKill, livenessBoundMs, readUntil } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";

let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("host-stop");
});
afterAll(() => paths?.cleanup());

test("SIGTERM with the journal removed and not written again: the stop line says the allocations are lost, not kept", async () => {
  const directory = join(paths.dir, "journal-dir");
  mkdirSync(directory);
  const state = join(directory, "journal.state");
  const region = `${paths.shmDir}/stopped`;
  const socket = `${paths.dir}/stopped.sock`;
  const host = tracked(
    Bun.spawn(
      [
        ...[process.execPath, CLI, "host", "--exit-with-parent", "--region", region, "--socket", socket],
        ...["--state", state, "--size", "16MiB", "--block-size", "4KiB", "--lease", "1s"],
      ],
      { stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } },
    ),
  );
  await eventually(() => socketAnswers(socket), livenessBoundMs(1000), "the arbiter to listen");
  const client = await connect({ socket, region, name: "holder" });
  try {
    await client.alloc(4096, { name: "held" });
    rmSync(directory, { recursive: true });
    const before = await readUntil(host.stderr, "cannot be written again");
    host.kill("SIGTERM");
    expect(await exitOrKill(host, EXIT_BOUND_MS)).toBe(0);
    const said = before + (await readUntil(host.stderr, () => false));
    expect(existsSync(state)).toBe(false);
    expect(said).not.toContain(`allocations and sessions stay in ${state}`);
    expect(said).toMatch(/stopped on SIGTERM; the state journal .*journal\.state is gone/);
    expect(said).toContain("discards every allocation");
  } finally {
    await client.close({ waitForArbiter: false }).catch(() => undefined);
    host.kill("SIGKILL");
    await host.exited;
  }
}, 60_000);

test("SIGTERM with the journal's directory back: written once more, and the allocations kept for the next start", async () => {
  const directory = join(paths.dir, "back-dir");
  mkdirSync(directory);
  const state = join(directory, "journal.state");
  const region = `${paths.shmDir}/back`;
  const socket = `${paths.dir}/back.sock`;
  const host = tracked(
    Bun.spawn(
      [
        ...[process.execPath, CLI, "host", "--exit-with-parent", "--region", region, "--socket", socket],
        ...["--state", state, "--size", "16MiB", "--block-size", "4KiB", "--lease", "20s"],
      ],
      { stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } },
    ),
  );
  await eventually(() => socketAnswers(socket), livenessBoundMs(1000), "the arbiter to listen");
  const client = await connect({ socket, region, name: "holder" });
  try {
    await client.alloc(4096, { name: "held" });
    rmSync(directory, { recursive: true });
    await readUntil(host.stderr, "cannot be written again");
    // Back before the next sweep (a quarter of a 20 s lease) could write it: the stop does.
    mkdirSync(directory);
    host.kill("SIGTERM");
    expect(await exitOrKill(host, EXIT_BOUND_MS)).toBe(0);
    expect(await readUntil(host.stderr, () => false)).toContain(`allocations and sessions stay in ${state}`);
    expect(existsSync(state)).toBe(true);
    expect(await Bun.file(state).text()).toContain('"held"');
  } finally {
    await client.close({ waitForArbiter: false }).catch(() => undefined);
    host.kill("SIGKILL");
    await host.exited;
  }
}, 60_000);
