/**
 * An arbiter's files removed under it (a careless `rm /dev/shm/ivsh*`) and a second arbiter started on the
 * same paths: the second took over the journal the first's keeper had written again, or, started first,
 * had its own written over by the first's keeper; from then on the two keepers wrote over each other's
 * journal at every sweep, both warning each second, and the file held whichever wrote last. Now a running
 * arbiter holds its journal (a flock): a start refuses one that another holds, and a keeper leaves it alone.
 * Both arbiters are processes of their own.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { socketAnswers } from "../src/host/listener.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import {
  EXIT_BOUND_MS,
  eventually,
  exitOrKill,
  livenessBoundMs,
  readUntil,
  spawnBun,
} from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";

let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("journal-taken-over");
});
afterAll(() => paths?.cleanup());

const GEOMETRY = ["--size", "16MiB", "--block-size", "64KiB", "--slots", "16", "--lease", "1s"];

/** `ivsh host` on these paths, its stderr readable as it goes, listening when this resolves. */
async function arbiter(name: string, region: string, state: string) {
  const socket = join(paths.dir, `${name}.sock`);
  const proc = tracked(
    Bun.spawn(
      [
        process.execPath,
        CLI,
        "host",
        "--exit-with-parent",
        "--region",
        region,
        "--socket",
        socket,
        "--state",
        state,
        ...GEOMETRY,
      ],
      { stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } },
    ),
  );
  await eventually(() => socketAnswers(socket), livenessBoundMs(1000), `arbiter ${name} to listen`);
  return { proc, socket };
}

test("a start on a --state another running arbiter holds is refused, naming it, and makes nothing", async () => {
  const [region, state] = [join(paths.shmDir, "first"), join(paths.dir, "first.state")];
  const first = await arbiter("first", region, state);
  const client = await connect({ socket: first.socket, region, name: "precious" });
  try {
    await client.alloc(4096, { name: "precious" });
    rmSync(region);
    rmSync(state);
    // Its keeper writes the journal again at its next sweep.
    await eventually(async () => existsSync(state), livenessBoundMs(1000), "the journal to be written again");
    const second = spawnBun([
      CLI,
      "host",
      "--region",
      region,
      "--socket",
      join(paths.dir, "second.sock"),
      "--state",
      state,
      ...GEOMETRY,
    ]);
    expect(await exitOrKill(second.proc, EXIT_BOUND_MS)).toBe(1);
    const said = await second.stderr;
    expect(said).toContain(`another arbiter (pid ${first.proc.pid}`);
    expect(said).toContain("stop it first, or pass another --state");
    expect(existsSync(region)).toBe(false);
    expect(existsSync(join(paths.dir, "second.sock"))).toBe(false);
    expect(readFileSync(state, "utf8")).toContain('"name":"precious"');
  } finally {
    await client.close({ waitForArbiter: false }).catch(() => undefined);
    first.proc.kill("SIGKILL");
    await first.proc.exited;
  }
}, 90_000);

test("a journal another arbiter took while this one was stopped is not written over, then or at its stop", async () => {
  const [region, state] = [join(paths.shmDir, "shared"), join(paths.dir, "shared.state")];
  const first = await arbiter("stopped", region, state);
  const firstClient = await connect({ socket: first.socket, region, name: "first's" });
  await firstClient.alloc(4096, { name: "first-s" });
  // Stopped, it cannot write its journal again before the second start finds the path free.
  first.proc.kill("SIGSTOP");
  rmSync(region);
  rmSync(state);
  const second = await arbiter("taker", region, state);
  const secondClient = await connect({ socket: second.socket, region, name: "second's" });
  try {
    await secondClient.alloc(4096, { name: "second-s" });
    first.proc.kill("SIGCONT");
    // Its next sweep finds the journal replaced: written over (the defect) or left alone, said either way.
    const verdict = await Promise.race([
      readUntil(first.proc.stderr, (text) => /keeps its own there now|wrote it again/.test(text)),
      Bun.sleep(livenessBoundMs(1000)).then(() => "no word from the first arbiter"),
    ]);
    expect(verdict).toContain("keeps its own there now");
    // And its status says so while it serves on (mutation round 29: only the log did, with `gone` dropped).
    const { problems } = await firstClient.status(0);
    expect(problems?.filter((problem) => problem.includes("keeps its own there now"))).toHaveLength(1);
    expect(readFileSync(state, "utf8")).toContain('"name":"second-s"');
    // The second stops (its journal kept for its next start); the first's stop must not write it over.
    second.proc.kill("SIGTERM");
    expect(await exitOrKill(second.proc, EXIT_BOUND_MS)).toBe(0);
    first.proc.kill("SIGTERM");
    expect(await exitOrKill(first.proc, EXIT_BOUND_MS)).toBe(0);
    // Its stop says where its allocations went: nowhere, not "the next start finds no state".
    const stopped = await readUntil(first.proc.stderr, () => false);
    expect(stopped).toContain("another arbiter took the state journal's path");
    expect(stopped).not.toContain("the next start finds no state");
    const journal = readFileSync(state, "utf8");
    expect(journal).toContain('"name":"second-s"');
    expect(journal).not.toContain('"name":"first-s"');
  } finally {
    await secondClient.close({ waitForArbiter: false }).catch(() => undefined);
    await firstClient.close({ waitForArbiter: false }).catch(() => undefined);
    for (const proc of [first.proc, second.proc]) {
      proc.kill("SIGCONT");
      proc.kill("SIGKILL");
      await proc.exited;
    }
  }
}, 90_000);
