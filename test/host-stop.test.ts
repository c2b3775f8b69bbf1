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

/**
 * An arbiter (`ivsh host`, its stderr piped) with the journal in a directory `name`-dir of its own, a
 * client holding an allocation, and then the directory removed; resolved once the arbiter said it cannot
 * write the journal again, with what it had said by then.
 */
async function journalRemoved(name: string, lease: string) {
  const directory = join(paths.dir, `${name}-dir`);
  mkdirSync(directory);
  const state = join(directory, "journal.state");
  const region = `${paths.shmDir}/${name}`;
  const socket = `${paths.dir}/${name}.sock`;
  const host = tracked(
    Bun.spawn(
      [
        ...[process.execPath, CLI, "host", "--exit-with-parent", "--region", region, "--socket", socket],
        ...["--state", state, "--size", "16MiB", "--block-size", "4KiB", "--lease", lease],
      ],
      { stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } },
    ),
  );
  await eventually(() => socketAnswers(socket), livenessBoundMs(1000), "the arbiter to listen");
  const client = await connect({ socket, region, name: "holder" });
  const stop = async () => {
    await client.close({ waitForArbiter: false }).catch(() => undefined);
    host.kill("SIGKILL");
    await host.exited;
  };
  try {
    await client.alloc(4096, { name: "held" });
    rmSync(directory, { recursive: true });
    const said = await readUntil(host.stderr, "cannot be written again");
    return { directory, state, host, said, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

test("SIGTERM with the journal removed and not written again: the stop line says the allocations are lost, not kept", async () => {
  const { state, host, said: before, stop } = await journalRemoved("stopped", "1s");
  try {
    host.kill("SIGTERM");
    expect(await exitOrKill(host, EXIT_BOUND_MS)).toBe(0);
    const said = before + (await readUntil(host.stderr, () => false));
    expect(existsSync(state)).toBe(false);
    expect(said).not.toContain(`allocations and sessions stay in ${state}`);
    expect(said).toMatch(/stopped on SIGTERM; the state journal .*journal\.state is gone/);
    expect(said).toContain("discards every allocation");
  } finally {
    await stop();
  }
}, 60_000);

test("SIGTERM with the journal's directory back: written once more, and the allocations kept for the next start", async () => {
  const { directory, state, host, stop } = await journalRemoved("back", "20s");
  try {
    // Back before the next sweep (a quarter of a 20 s lease) could write it: the stop does.
    mkdirSync(directory);
    host.kill("SIGTERM");
    expect(await exitOrKill(host, EXIT_BOUND_MS)).toBe(0);
    expect(await readUntil(host.stderr, () => false)).toContain(`allocations and sessions stay in ${state}`);
    expect(existsSync(state)).toBe(true);
    expect(await Bun.file(state).text()).toContain('"held"');
  } finally {
    await stop();
  }
}, 60_000);
