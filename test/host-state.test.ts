/**
 * The arbiter's state journal across restarts when something is off: flags that disagree with it, a state
 * that belongs to another region, a region emptied, a journal damaged after kill -9 (a region truncated
 * while in use: region-truncated-ends.test.ts). The arbiter refuses before it changes anything, naming the
 * file and what to do, and leaves nothing behind.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { symlink } from "node:fs/promises";
import { basename, join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { stateFileFailure } from "../src/host/state-errors.ts";
import { expectOneLine, runHost, startLines } from "./helpers/host-run.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, livenessBoundMs, readUntil, runCli } from "./helpers/processes.ts";

let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("host-state");
});
afterAll(() => paths?.cleanup());

function files(label: string): { region: string; socket: string } {
  return { region: join(paths.shmDir, `${label}.region`), socket: join(paths.dir, `${label}.sock`) };
}

/** `ivsh host` on these files with no other flags (the state's geometry), run until it exits. */
function hostOn(own: { region: string; socket: string; state: string }, extra: string[] = []) {
  return runCli(["host", "--region", own.region, "--socket", own.socket, "--state", own.state, ...extra]);
}

test("a restart without --size, --block-size or --slots takes them from the state file, or the size from the region", async () => {
  const own = { ...paths, ...files("regeometry"), state: join(paths.dir, "regeometry.state") };
  const first = await ArbiterProcess.start(own, { size: "32MiB", blockSize: "16KiB", slots: "128" });
  await first.stop();
  // Flags that disagree with the state: both geometries as the flags that make them.
  const { exitCode, stderr } = await hostOn(own, ["--size", "32MiB", "--block-size", "64KiB"]);
  expect(exitCode).toBe(1);
  expect(stderr).toContain(
    "it describes a region of --size 32MiB --block-size 16KiB --slots 128, but the flags ask for --size 32MiB --block-size 64KiB --slots 128",
  );
  const serving = async () => {
    const host = Bun.spawn(
      [
        ...[process.execPath, CLI, "host", "--exit-with-parent", "--region", own.region],
        ...["--socket", own.socket, "--state", own.state, "--lease", "5s"],
      ],
      { stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } },
    );
    try {
      return await readUntil(host.stderr, "arbiter serving");
    } finally {
      host.kill("SIGTERM");
      await host.exited;
    }
  };
  expect(await serving()).toMatch(
    /arbiter serving .* \(32(\.0)? MiB, \d+ blocks of 16(\.0)? KiB, 128 slots\)/,
  );
  rmSync(own.state);
  expect(await serving()).toMatch(/arbiter serving .* \(32(\.0)? MiB, /);
  rmSync(own.region, { force: true });
}, 60_000);

test("another region's state is refused before anything is made: a live arbiter's, or a mistyped --region's", async () => {
  const own = { ...paths, ...files("owner"), state: join(paths.dir, "owned.state") };
  const owner = await ArbiterProcess.start(own, { size: "16MiB" });
  const client = await connect({ socket: own.socket, region: own.region, name: "precious" });
  try {
    await client.alloc(4096, { name: "precious" });
    const journal = readFileSync(own.state, "utf8");
    const intruder = files("intruder");
    const refusal = `it belongs to the region ${own.region}, not ${intruder.region} (pass --region ${own.region}`;
    // While the owner runs (its region and socket are its own, only the state is shared).
    const live = await runHost({ ...intruder, state: own.state });
    expect(live.exitCode).toBe(1);
    // Not the mismatch's "remove the state file": that is the owner's live journal.
    expectOneLine(
      live.stderr,
      `is running with its state journal there, for the region ${own.region}: pass another --state`,
    );
    expect(existsSync(intruder.region)).toBe(false);
    expect(readFileSync(own.state, "utf8")).toBe(journal);
    // After a clean stop too: the region is still there for the owner's next start.
    await owner.stop();
    const stopped = await runHost({ ...intruder, state: own.state });
    expect(stopped.exitCode).toBe(1);
    expectOneLine(stopped.stderr, refusal);
    expect(readFileSync(own.state, "utf8")).toBe(journal);
    await owner.restart();
    expect((await client.status()).segments.map((segment) => segment.name)).toEqual(["precious"]);
  } finally {
    await client.close();
    await owner.stop();
  }
}, 60_000);

test("a region an arbiter formatted, started with a state that records nothing: the discarded allocations are said", async () => {
  const own = { ...paths, ...files("stateless"), state: join(paths.dir, "first.state") };
  const first = await ArbiterProcess.start(own, { size: "16MiB" });
  await first.stop();
  const host = Bun.spawn(
    [
      ...[process.execPath, CLI, "host", "--exit-with-parent", "--region", own.region, "--size", "16MiB"],
      ...["--socket", own.socket, "--state", join(paths.dir, "other.state")],
    ],
    { stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } },
  );
  try {
    const said = await readUntil(host.stderr, "arbiter serving");
    expect(said).toContain(
      `${own.region} held an arbiter's region but ${join(paths.dir, "other.state")} records none`,
    );
  } finally {
    host.kill("SIGTERM");
    await host.exited;
  }
});

test("a damaged journal after kill -9: the failed restart names the record and leaves no socket behind", async () => {
  const own = { ...paths, ...files("damaged"), state: join(paths.dir, "damaged.state") };
  const host = await ArbiterProcess.start(own, { size: "16MiB" });
  await host.kill9();
  // A segment past the region's end, as a damaged (or hand-edited) journal may hold.
  const bad = { t: "segment", id: 99, name: "", firstBlock: 99_999, blockCount: 16, bytes: 1, creator: 1 };
  writeFileSync(own.state, `${readFileSync(own.state, "utf8")}${JSON.stringify(bad)}\n`);
  const restart = await hostOn(own);
  expect(restart.exitCode).toBe(1);
  expectOneLine(restart.stderr, `Failed to resume from ${own.state} since its record`);
  expect(restart.stderr).toContain("the file is damaged; restore it, or remove it to start empty");
  // The dead arbiter's socket and its hand-over socket beside it: both cleared, neither left.
  expect(readdirSync(paths.dir).filter((name) => name.startsWith("damaged.sock"))).toEqual([]);
}, 60_000);

test("a change kill -9 cut short mid-write (whole lines of it, not all) is dropped whole on restart", async () => {
  const own = { ...paths, ...files("cut"), state: join(paths.dir, "cut.state") };
  const host = await ArbiterProcess.start(own, { size: "16MiB" });
  const client = await connect({ socket: own.socket, region: own.region, name: "cut" });
  await client.alloc(4096, { name: "whole" });
  await client.alloc(4096, { name: "cut-short" });
  await host.kill9();
  await client.close().catch(() => undefined);
  // The kernel stops a write to a file at a page boundary once kill -9 is pending: the last change's
  // first lines (its segment) reach the file, the rest (its grant, its cached reply) does not.
  const lines = readFileSync(own.state, "utf8").split("\n");
  const segment = lines.findLastIndex((line) => line.startsWith('{"t":"segment"'));
  writeFileSync(own.state, `${lines.slice(0, segment + 1).join("\n")}\n`);
  await host.restart();
  try {
    const { stdout } = await runCli(["status", "--socket", own.socket, "--json"]);
    const segments = (JSON.parse(stdout) as { segments: { name: string; holderCount: number }[] }).segments;
    // Not a segment that no one holds, keeping its blocks and its name for ever.
    expect(segments.map(({ name, holderCount }) => `${name}:${holderCount}`)).toEqual(["whole:1"]);
  } finally {
    await host.stop();
  }
  expect(await host.spawned.stderr).toContain("ignored a half-written last");
}, 60_000);

test("a change of two records (an open: its grant and its cached reply) cut short by kill -9 is dropped whole too", async () => {
  const own = { ...paths, ...files("cut-open"), state: join(paths.dir, "cut-open.state") };
  const host = await ArbiterProcess.start(own, { size: "16MiB" });
  const creator = await connect({ socket: own.socket, region: own.region, name: "creator" });
  const opener = await connect({ socket: own.socket, region: own.region, name: "opener" });
  await creator.alloc(4096, { name: "shared" });
  await opener.open("shared", "read");
  await host.kill9();
  await Promise.all([creator.close().catch(() => undefined), opener.close().catch(() => undefined)]);
  // The open's grant reached the file, its cached reply did not: replayed alone, the grant would make a
  // re-sent open find its client holding the segment already ("use the Segment it returned").
  const lines = readFileSync(own.state, "utf8").split("\n");
  const grant = lines.findLastIndex((line) => line.startsWith('{"t":"grant"'));
  writeFileSync(own.state, `${lines.slice(0, grant + 1).join("\n")}\n`);
  await host.restart();
  try {
    const { stdout } = await runCli(["status", "--socket", own.socket, "--json"]);
    const segments = (JSON.parse(stdout) as { segments: { name: string; holderCount: number }[] }).segments;
    expect(segments.map(({ name, holderCount }) => `${name}:${holderCount}`)).toEqual(["shared:1"]);
  } finally {
    await host.stop();
  }
}, 60_000);

test("an empty region file the operator made (after a reboot emptied /dev/shm) is formatted, its state's allocations gone", async () => {
  const own = { ...paths, ...files("remade"), state: join(paths.dir, "remade.state") };
  const host = await ArbiterProcess.start(own, { size: "16MiB" });
  await host.stop();
  rmSync(own.region);
  writeFileSync(own.region, ""); // as tmpfiles.d's `f PATH 0660 ...` makes it, for its owner and mode
  const started = Bun.spawn(
    [
      process.execPath,
      CLI,
      "host",
      "--exit-with-parent",
      "--region",
      own.region,
      "--socket",
      own.socket,
      "--state",
      own.state,
    ],
    { stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } },
  );
  try {
    const said = await readUntil(started.stderr, "arbiter serving");
    expect(said).toContain(`${own.region} was just created, so the allocations in ${own.state} are gone`);
  } finally {
    started.kill("SIGTERM");
    await started.exited;
  }
}, 60_000);

test("a region named relative to one directory resumes under its absolute name, and from another directory", async () => {
  const own = { ...files("relative"), state: join(paths.dir, "relative.state") };
  /** Starts `ivsh host` in `cwd`; resolves once it serves, with what it said and a stop. */
  const start = async (region: string, cwd: string) => {
    const host = Bun.spawn(
      [
        ...[process.execPath, CLI, "host", "--exit-with-parent", "--region", region, "--size", "16MiB"],
        ...["--socket", own.socket, "--state", own.state],
      ],
      { cwd, stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } },
    );
    const said = await readUntil(host.stderr, "arbiter serving");
    // A refused start must fail here, with its reason, not as a client that waits out its reconnect.
    expect(said).toContain("arbiter serving");
    const stop = () => {
      host.kill("SIGTERM");
      return host.exited;
    };
    return { said, stop };
  };
  const relative = own.region.slice(paths.shmDir.length + 1);
  let host = await start(relative, paths.shmDir);
  const client = await connect({ socket: own.socket, region: own.region, name: "relative" });
  const names = async () => (await client.status()).segments.map((segment) => segment.name);
  try {
    await client.alloc(4096, { name: "kept" });
    await host.stop();
    // The state records the absolute path; it was refused as "another region's" when it kept `relative`.
    const begin = JSON.parse(readFileSync(own.state, "utf8").split("\n")[0]!);
    expect(begin.region).toBe(own.region);
    host = await start(own.region, paths.dir);
    expect(host.said).toContain(`arbiter serving ${own.region}`);
    expect(await names()).toEqual(["kept"]);
    await host.stop();
    host = await start(relative, paths.shmDir);
    expect(await names()).toEqual(["kept"]);
  } finally {
    await client.close();
    await host.stop();
    rmSync(own.region, { force: true });
  }
}, 60_000);

// Found by a third review: with its region gone (a reboot emptied /dev/shm, the state on disk), a state was
// refused as "another region's" when --region named that path through a symlinked directory: only an
// existing file was resolved (the mistake shm_init()'s comparison made).
test("a state whose region is gone resumes with --region naming it through a symlinked directory", async () => {
  const own = { ...paths, ...files("linked"), state: join(paths.dir, "linked.state") };
  await (await ArbiterProcess.start(own, { size: "1MiB" })).stop();
  rmSync(own.region);
  await symlink(paths.shmDir, join(paths.dir, "shm-link"));
  const linked = join(paths.dir, "shm-link", basename(own.region));
  const said = await startLines(
    ["--region", linked, "--socket", own.socket, "--state", own.state],
    paths.dir,
  );
  expect(said).toContain(`${linked} was just created, so the allocations in ${own.state} are gone`);
  rmSync(own.region, { force: true });
}, 60_000);

test("a state that names its region relatively (older ivsh) or by a path that cannot be resolved: refused, saying how to name it", async () => {
  const own = { ...paths, ...files("legacy"), state: join(paths.dir, "legacy.state") };
  const first = await ArbiterProcess.start(own, { size: "1MiB", blockSize: "64KiB" });
  await first.stop();
  const lines = readFileSync(own.state, "utf8").split("\n");
  const begin = JSON.parse(lines[0]!);
  const rewrite = (region: string) =>
    writeFileSync(own.state, [JSON.stringify({ ...begin, region }), ...lines.slice(1)].join("\n"));
  // The test's working directory holds a file of that name, as the arbiter's once did.
  const elsewhere = "legacy-elsewhere.region";
  writeFileSync(join(process.cwd(), elsewhere), "");
  try {
    rewrite(elsewhere);
    const relative = await runHost({ ...own });
    expect(relative.exitCode).toBe(1);
    expect(relative.stderr).toContain(
      `it belongs to the region ${elsewhere}, relative to the directory its arbiter ran in, not ${own.region} (pass --region with that file's absolute path,`,
    );
  } finally {
    rmSync(join(process.cwd(), elsewhere));
  }
  // A path through a regular file (ENOTDIR) is no name of this region, and not a reason to fail otherwise:
  // the region moved here resumes.
  rewrite(join(own.region, "gone"));
  const moved = await ArbiterProcess.start(own, { size: "1MiB", blockSize: "64KiB" });
  await moved.stop();
  rmSync(own.region, { force: true });
}, 60_000);

test("a journal removed or replaced under the running arbiter is written again: kill -9 and a restart keep every allocation", async () => {
  for (const how of ["removed", "replaced"] as const) {
    const own = { ...paths, ...files(`journal-${how}`), state: join(paths.dir, `journal-${how}.state`) };
    const host = await ArbiterProcess.start(own, { size: "16MiB", lease: "1s" });
    const client = await connect({ socket: own.socket, region: own.region, name: how });
    await client.alloc(4096, { name: "before" });
    rmSync(own.state);
    if (how === "replaced") writeFileSync(own.state, "someone else's file\n");
    // Written again at the next sweep (a quarter lease): with the state it had, and appended to after.
    const rewritten = () => readFileSync(own.state, "utf8").includes('"name":"before"');
    await eventually(
      async () => existsSync(own.state) && rewritten(),
      livenessBoundMs(1000),
      `the ${how} journal written again`,
    );
    await client.alloc(4096, { name: "after" });
    await host.kill9();
    expect(await host.spawned.stderr).toContain(
      `the state journal ${own.state} was removed or replaced while the arbiter ran: wrote it again`,
    );
    await host.restart();
    try {
      const { stdout } = await runCli(["status", "--socket", own.socket, "--json"]);
      const segments = (JSON.parse(stdout) as { segments: { name: string }[] }).segments;
      expect(segments.map(({ name }) => name).sort()).toEqual(["after", "before"]);
      await client.close();
    } finally {
      await host.stop();
    }
  }
}, 60_000);

test("a journal on a read-only or full file system: the advice keeps its allocations (copy or move it), not a new --state", () => {
  const readOnly = stateFileFailure({ code: "EROFS" }, "/srv/ivsh/ivsh.state", "record a change");
  expect(readOnly.message).toBe(
    "Failed to record a change since /srv/ivsh is on a read-only file system (EROFS); copy /srv/ivsh/ivsh.state, " +
      "with the arbiter stopped, to a writable file system with room and pass its new path as --state (a new " +
      "--state without it discards every allocation), or, under a systemd unit with ProtectSystem=, add /srv/ivsh to " +
      "its ReadWritePaths=",
  );
  const full = stateFileFailure({ code: "EDQUOT" }, "/srv/ivsh/ivsh.state", "record a change");
  expect(full.code).toBe("JournalFull");
  expect(full.message).toContain(
    "free space there, or move /srv/ivsh/ivsh.state, with the arbiter stopped, to",
  );
});
