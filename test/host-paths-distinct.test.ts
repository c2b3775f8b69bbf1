/**
 * `ivsh host` given a --region, --state and --socket of which two name one file, or one naming a file
 * another implies (REGION.wake, the futex mailbox; SOCKET.handover): refused as a usage error naming both,
 * before anything is made. It took its own socket for another arbiter's ("another arbiter (pid N) started
 * on this --socket at the same time", N its own pid), said "another arbiter ... created it first" for a
 * --state that was its --region, and served with --state REGION.wake, its journal and its futex mailbox one
 * file. Each start is a process of its own.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync, symlinkSync } from "node:fs";
import { basename, join } from "node:path";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, exitOrKill, spawnBun } from "./helpers/processes.ts";

let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("host-paths-distinct");
});
afterAll(() => paths?.cleanup());

/** Runs `ivsh host` with these paths; its exit code (or "late" if it served) and stderr. */
async function host(region: string, socket: string, state?: string) {
  const started = spawnBun([
    ...[CLI, "host", "--region", region, "--socket", socket],
    ...(state === undefined ? [] : ["--state", state]),
    ...["--size", "1MiB", "--block-size", "4KiB", "--slots", "16"],
  ]);
  const exitCode = await exitOrKill(started.proc, EXIT_BOUND_MS);
  return { exitCode, stderr: await started.stderr };
}

const cases: [string, (dir: string, shm: string) => [string, string, string | undefined], string][] = [
  ["--state is --region", (dir, shm) => [join(shm, "r"), join(dir, "s.sock"), join(shm, "r")], "--state"],
  ["--socket is --region", (_dir, shm) => [join(shm, "r"), join(shm, "r"), undefined], "--socket"],
  [
    "--state is --socket",
    (dir, shm) => [join(shm, "r"), join(dir, "s.sock"), join(dir, "s.sock")],
    "--socket",
  ],
  [
    "--state is the region's futex mailbox",
    (dir, shm) => [join(shm, "r"), join(dir, "s.sock"), join(shm, "r.wake")],
    "--state",
  ],
  [
    "--socket is the default --state",
    (_dir, shm) => [join(shm, "r"), join(shm, "r.state"), undefined],
    "--socket",
  ],
  [
    "--state is the hand-over socket",
    (dir, shm) => [join(shm, "r"), join(dir, "s.sock"), join(dir, "s.sock.handover")],
    "the hand-over socket",
  ],
  // Neither file there yet, one named through a symbolic link to the other's directory: no realpath of
  // either, and the start said "another arbiter ... created it first", or named its own pid as another's.
  [
    "--state is --region, through a linked directory",
    (_dir, shm) => [join(shm, "r"), join(shm, "s.sock"), join(linkTo(shm), "r")],
    "--state",
  ],
  [
    "--socket is the region's futex mailbox, through a linked directory",
    (_dir, shm) => [join(shm, "r"), join(linkTo(shm), "r.wake"), undefined],
    "--socket",
  ],
];

/** A symbolic link to `directory`, beside the test's directories (so not in what a case checks is empty). */
function linkTo(directory: string): string {
  const link = join(paths.dir, `link-to-${basename(directory)}`);
  symlinkSync(directory, link);
  return link;
}

cases.forEach(([name, pathsOf, refused], index) => {
  test(`${name}: a usage error naming both, and nothing made`, async () => {
    const [dir, shm] = [join(paths.dir, `${index}`), join(paths.shmDir, `${index}`)];
    for (const made of [dir, shm]) Bun.spawnSync(["mkdir", "-p", made]);
    const [region, socket, state] = pathsOf(dir, shm);
    const { exitCode, stderr } = await host(region, socket, state);
    expect(`${stderr}\nexit ${exitCode}`).toEndWith("exit 2");
    expect(stderr).toMatch(
      new RegExp(`Failed to use ${refused}.* since it is also .*each needs a file of its own`),
    );
    expect(stderr).not.toContain("another arbiter");
    expect([...readdirSync(dir), ...readdirSync(shm)]).toEqual([]);
  }, 60_000);
});
