/**
 * Files the arbiter must not take over or cannot use, refused in one line before anything is touched
 * (found by an operator trial): another user's state journal or region, a symbolic link as --state or
 * --socket, a socket directory this user may not write.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { bindDatagramSocket } from "../src/ffi/fd-passing.ts";
import { closeFd } from "../src/ffi/index.ts";
import { socketAnswers } from "../src/host/listener.ts";
import { asParentOfArbiter } from "../src/host/parent.ts";
import { expectOneLine, runHost } from "./helpers/host-run.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, EXIT_BOUND_MS, eventually } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { testUnless, toolMissing } from "./helpers/tools.ts";

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0 ? undefined : "only root can give a file to another user here";
let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("host-ownership");
});
afterAll(() => paths?.cleanup());

function files(label: string): { region: string; socket: string; state: string } {
  const base = { region: join(paths.shmDir, `${label}.region`), socket: join(paths.dir, `${label}.sock`) };
  return { ...base, state: `${base.region}.state` };
}

testUnless(
  asRoot,
  "a state journal another user owns is refused, naming its owner: a restart as another user",
  async () => {
    const at = files("their-state");
    writeFileSync(at.state, "");
    chownSync(at.state, NOBODY, NOBODY);
    const { exitCode, stderr } = await runHost(at);
    expect(exitCode).toBe(1);
    expectOneLine(
      stderr,
      `Failed to serve the state in ${at.state} since it belongs to nobody (uid ${NOBODY})`,
    );
    expect(existsSync(at.region)).toBe(false);
    expect(readFileSync(at.state, "utf8")).toBe("");
  },
);

testUnless(
  asRoot,
  "a region another user made beforehand is refused: they could read everything shared",
  async () => {
    const at = files("their-region");
    writeFileSync(at.region, new Uint8Array(1 << 20));
    chownSync(at.region, NOBODY, NOBODY);
    const { exitCode, stderr } = await runHost(at);
    expect(exitCode).toBe(1);
    expectOneLine(
      stderr,
      `Failed to serve the region ${at.region} since it belongs to nobody (uid ${NOBODY})`,
    );
    expect(existsSync(at.state)).toBe(false);
  },
);

test("--state as a symbolic link is refused: each compaction would replace the link", async () => {
  const at = files("linked-state");
  const target = join(paths.dir, "real.state");
  symlinkSync(target, at.state);
  const { exitCode, stderr } = await runHost(at);
  expect(exitCode).toBe(1);
  expectOneLine(stderr, `Failed to use --state ${at.state} since it is a symbolic link (to ${target})`);
  expect(existsSync(target)).toBe(false);
});

test("--socket as a symbolic link, even to nothing, is refused in one line (it was a stack trace)", async () => {
  const at = files("linked-socket");
  symlinkSync(join(paths.dir, "nowhere.sock"), at.socket);
  const { exitCode, stderr } = await runHost(at);
  expect(exitCode).toBe(1);
  expectOneLine(stderr, `Failed to listen on ${at.socket} since it is a symbolic link`);
});

testUnless(
  asRoot ?? toolMissing("setpriv"),
  "--socket in a directory this user may not write: named, not a raw bind error on SOCKET.handover",
  async () => {
    const open = join(paths.shmDir, "open");
    mkdirSync(open, { mode: 0o777 });
    chmodSync(open, 0o777);
    const closed = join(paths.dir, "root-only");
    mkdirSync(closed, { mode: 0o755 });
    chmodSync(paths.dir, 0o755);
    const socket = join(closed, "arbiter.sock");
    const { exitCode, stderr } = await runHost(
      { region: join(open, "region"), socket, state: join(open, "state") },
      [],
      NOBODY,
    );
    expect(exitCode).toBe(1);
    expectOneLine(
      stderr,
      `may not create files in ${closed}, where the socket and the '.handover' socket beside it go`,
    );
  },
);

testUnless(
  asRoot ?? toolMissing("setpriv"),
  "a live socket this user may not connect to (EACCES) is refused, not unlinked as a dead arbiter's",
  async () => {
    // A shared directory without the sticky bit (as /run/ivsh for a group may be): anyone may unlink there.
    const shared = join(paths.shmDir, "shared");
    mkdirSync(shared);
    chmodSync(paths.shmDir, 0o755);
    chmodSync(shared, 0o777);
    const own = { ...paths, region: join(shared, "root.region"), socket: join(shared, "arbiter.sock") };
    const live = await ArbiterProcess.start({ ...own, state: `${own.region}.state` });
    try {
      const theirs = { region: join(shared, "their.region"), socket: own.socket };
      const { exitCode, stderr } = await runHost(theirs, [], NOBODY);
      expect(exitCode).toBe(1);
      expectOneLine(
        stderr,
        `Failed to listen on ${own.socket} since this user may not connect to it (EACCES)`,
      );
      expect(existsSync(theirs.region)).toBe(false);
      expect(existsSync(`${own.socket}.handover`)).toBe(true);
      expect(await socketAnswers(own.socket)).toBe(true);
    } finally {
      await live.stop();
    }
  },
);

test("a region every user may read is warned about as readable, not as writable (0644)", async () => {
  const at = files("readable-region");
  writeFileSync(at.region, new Uint8Array(1 << 20));
  chmodSync(at.region, 0o644);
  const host = Bun.spawn(
    [
      process.execPath,
      CLI,
      "host",
      "--exit-with-parent",
      "--region",
      at.region,
      "--socket",
      at.socket,
      "--size",
      "1MiB",
      "--block-size",
      "64KiB",
      "--state",
      at.state,
    ],
    { stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } },
  );
  let stderr = "";
  const decoder = new TextDecoder();
  for await (const bytes of host.stderr) {
    stderr += decoder.decode(bytes, { stream: true });
    if (stderr.includes("arbiter serving")) break;
  }
  host.kill("SIGTERM");
  await host.exited;
  expect(stderr).toContain(
    `${at.region} is mode 0644: every user of this machine may read what is shared through it`,
  );
});

testUnless(
  asRoot ?? toolMissing("setpriv"),
  "a dead arbiter's hand-over socket another user owns in a sticky directory: named, not 'bad address (EFAULT)'",
  async () => {
    // /tmp's mode: anyone may create, only a file's owner may remove.
    const sticky = join(paths.shmDir, "sticky");
    mkdirSync(sticky);
    chmodSync(paths.shmDir, 0o755);
    chmodSync(sticky, 0o1777);
    const socket = join(sticky, "arbiter.sock");
    // Left by root's arbiter, which died: bound by nobody now, and connectable by all (nobody's probe).
    const stale = `${socket}.handover`;
    closeFd(bindDatagramSocket(stale));
    chmodSync(stale, 0o777);
    const { exitCode, stderr } = await runHost(
      { region: join(sticky, "region"), socket, state: join(sticky, "state") },
      [],
      NOBODY,
    );
    expect(exitCode).toBe(1);
    expectOneLine(
      stderr,
      `Failed to listen on ${stale} since the dead arbiter's socket there belongs to root (uid 0), and this user, nobody (uid ${NOBODY}), may not remove it`,
    );
    expect(existsSync(stale)).toBe(true);
    expect(existsSync(join(sticky, "region"))).toBe(false);
  },
);

testUnless(
  asRoot ?? toolMissing("setpriv"),
  "another user's leftover private socket name in a sticky directory does not stop the start",
  async () => {
    const sticky = join(paths.shmDir, "sticky-leftover");
    mkdirSync(sticky);
    chmodSync(paths.shmDir, 0o755);
    chmodSync(sticky, 0o1777);
    const socket = join(sticky, "arbiter.sock");
    // What root's start, killed between its bind and its link, left: bound by nobody, over a minute old.
    const leftover = `${socket}.~0a1b2c`;
    closeFd(bindDatagramSocket(leftover));
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(leftover, old, old);
    const where = ["--region", join(sticky, "region"), "--socket", socket, "--state", join(sticky, "state")];
    const host = tracked(
      Bun.spawn(
        [
          "setpriv",
          `--reuid=${NOBODY}`,
          `--regid=${NOBODY}`,
          "--clear-groups",
          process.execPath,
          CLI,
          "host",
        ].concat(["--exit-with-parent", "--size", "1MiB", "--block-size", "64KiB", ...where]),
        { stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", ...asParentOfArbiter() } },
      ),
    );
    try {
      await eventually(
        async () => host.exitCode !== null || (await socketAnswers(socket)),
        EXIT_BOUND_MS,
        "the arbiter serving or exiting",
      );
      const failed =
        host.exitCode === null ? "" : `exit ${host.exitCode}: ${await new Response(host.stderr).text()}`;
      expect(failed).toBe("");
      expect(existsSync(leftover)).toBe(true); // not ours to remove, and in nobody's way
    } finally {
      host.kill("SIGTERM");
      await host.exited;
    }
  },
);

testUnless(
  asRoot ?? toolMissing("setpriv"),
  "a journal its owner may not write (mode 0444): refused naming the mode, before the journal or region changes",
  async () => {
    const open = join(paths.shmDir, "read-only-state");
    mkdirSync(open);
    chmodSync(paths.shmDir, 0o755);
    chmodSync(open, 0o777);
    const own = { ...paths, region: join(open, "region"), socket: join(open, "arbiter.sock") };
    const state = `${own.region}.state`;
    const made = await ArbiterProcess.start({ ...own, state }, { size: "1MiB", blockSize: "64KiB" });
    await made.stop();
    for (const path of [own.region, state]) chownSync(path, NOBODY, NOBODY);
    chmodSync(state, 0o444);
    const [journal, region] = [readFileSync(state, "utf8"), readFileSync(own.region)];
    const { exitCode, stderr } = await runHost({ ...own, state }, [], NOBODY);
    expect(exitCode).toBe(1);
    expectOneLine(
      stderr,
      `Failed to use --state ${state} since it is mode 0444: this user, its owner, may not write it`,
    );
    expect(stderr).toContain(`chmod u+w ${state}`);
    expect(readFileSync(state, "utf8")).toBe(journal);
    expect(readFileSync(own.region).equals(region)).toBe(true);
  },
);
