/**
 * The arbiter against a hostile or failing environment: a full file system under its journal, state and
 * region paths it cannot use, region files that are not regions or change under it, clients whose names
 * carry control characters. Each error names the file and what to do; none is a stack trace or a crash.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { socketAnswers } from "../src/host/listener.ts";
import { expectRejection } from "./helpers/errors.ts";
import { expectOneLine, runHost } from "./helpers/host-run.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, livenessBoundMs, readUntil, runCli } from "./helpers/processes.ts";
import { cannotMount, fillFile, withSmallTmpfs as withTmpfs } from "./helpers/small-fs.ts";
import { testUnless, toolMissing } from "./helpers/tools.ts";

let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("host-faults");
});
afterAll(() => paths?.cleanup());

/** A 1 MiB tmpfs at DIR/NAME for `body`, unmounted after. */
function withSmallTmpfs(name: string, body: (dir: string) => Promise<void>): Promise<void> {
  return withTmpfs(join(paths.dir, name), "1m", body);
}

/** Fills the file system of `dir` with FILLER but `leave` bytes; returns the filler's path. */
function fill(dir: string, leave: number): string {
  const filler = join(dir, "filler");
  fillFile(filler);
  const size = statSync(filler).size;
  Bun.spawnSync(["truncate", "-s", String(Math.max(0, size - leave)), filler]);
  return filler;
}

testUnless(
  cannotMount,
  "a full file system under --state: JournalFull naming it, the refused alloc not applied, no torn record",
  () =>
    withSmallTmpfs("full-state", async (small) => {
      const state = join(small, "arbiter.state");
      const own = { ...paths, ...files("full-state"), state };
      const arbiter = await ArbiterProcess.start(own, { size: "64MiB", blockSize: "64KiB" });
      const filler = fill(small, 12 * 1024);
      const client = await connect({ socket: own.socket, region: own.region });
      const held: string[] = [];
      let refused: unknown;
      try {
        for (let index = 0; index < 500; index++) {
          const name = `segment-${index}-${"x".repeat(200)}`;
          await client.alloc(4096, { name });
          held.push(name);
        }
      } catch (error) {
        refused = error;
      }
      await expectRejection(
        Promise.reject(refused),
        "JournalFull",
        /the state journal's file system is full \(ENOSPC\) at .*full-state; free space there, or move \S+arbiter.state, with the arbiter stopped, to a writable file system with room and pass its new path as --state \(a new --state without it discards every allocation\)/,
      );
      // Still full: the status is asked without a session, which the journal could not record.
      const status = await fetchStatus({ unix: own.socket });
      expect(status.self).toBe(0);
      expect(status.report.segments.length).toBe(held.length);
      rmSync(filler);
      expect(readFileSync(state, "utf8").endsWith("\n")).toBe(true);
      // With room again, the same client goes on.
      await client.alloc(4096, { name: "after-room" });
      // Stopped with the client's session open: the restart must bring back all it holds.
      await arbiter.stop();
      const stderr = await arbiter.spawned.stderr;
      expect(stderr).not.toMatch(/^\s+at /m);
      expect(stderr).not.toContain("hit a bug");
      expect(stderr.match(/state journal's file system is full/g)?.length).toBe(1);
      await arbiter.restart();
      const after = (await fetchStatus({ unix: own.socket })).report;
      expect(after.segments.length).toBe(held.length + 1);
      await client.close();
      await arbiter.stop();
      expect(await arbiter.spawned.stderr).not.toContain("half-written");
    }),
  60_000,
);

testUnless(
  cannotMount,
  "a full journal: a hello is refused and may be retried, a goodbye is kept and completed by the lease",
  () =>
    withSmallTmpfs("full-sessions", async (small) => {
      const own = { ...paths, ...files("full-sessions"), state: join(small, "arbiter.state") };
      // -v: the extra sessions below ask for nothing, so their ends are logged at debug.
      const arbiter = await ArbiterProcess.start(own, { lease: "1s", extra: ["-v"] });
      const held = await connect({ socket: own.socket, region: own.region, name: "held" });
      await held.alloc(4096, { name: "kept-while-full" });
      const filler = fill(small, 0);
      // The journal's last page has room for a few sessions yet: connect until one is refused.
      const extra: Awaited<ReturnType<typeof connect>>[] = [];
      let refused: unknown;
      for (let index = 0; index < 200 && refused === undefined; index++)
        await connect({ socket: own.socket, region: own.region, name: `extra-${index}` }).then(
          (client) => extra.push(client),
          (error: unknown) => {
            refused = error;
          },
        );
      await expectRejection(
        Promise.reject(refused),
        "JournalFull",
        /state journal's file system is full \(ENOSPC\)/,
      );
      // What an operator runs then: a status without a session, which the arbiter answers, naming the outage.
      const { report, self } = await fetchStatus({ unix: own.socket });
      expect(self).toBe(0);
      expect(report.journalOutage?.error).toMatch(/state journal's file system is full \(ENOSPC\)/);
      expect(report.journalOutage?.refused).toBeGreaterThan(0);
      const typed = await runCli(["status", "--socket", own.socket]);
      expect(typed.exitCode).toBe(0);
      expect(typed.stdout).toMatch(
        /^state journal: REFUSING CHANGES for \d+ s \(\d+ refused\): Failed to record/m,
      );
      expect(typed.stdout).toMatch(/^clients \(\d+, \d+ connected\):$/m);
      for (const client of extra) await client.close();
      await held.close(); // its end cannot be recorded: the session stays until its lease runs out
      rmSync(filler);
      await eventually(
        async () => {
          const { report } = await fetchStatus({ unix: own.socket });
          return report.totals.clients === 1 && report.segments.length === 0; // only this status client
        },
        livenessBoundMs(1000),
        "the closed client's session ending once there was room",
      );
      const later = await connect({ socket: own.socket, region: own.region, name: "later" });
      await later.close();
      await arbiter.stop();
      const stderr = await arbiter.spawned.stderr;
      expect(stderr).not.toMatch(/^\s+at /m);
      // Each session's release is told once, when it happened: not also for a goodbye the journal refused.
      const ends = [
        ...stderr.matchAll(/client #(\d+) .*(?:said goodbye|lost its lease)(?:.*: released|, having)/g),
      ];
      const ended = ends.map((end) => end[1]);
      expect(ended.length).toBeGreaterThan(30);
      expect(ended.filter((id, index) => ended.indexOf(id) !== index)).toEqual([]);
      // The goodbye the journal refused is told as a goodbye once recorded, not as a lost lease; and the
      // log says when the journal took changes again (its last word was "refusing changes").
      expect(stderr).toMatch(
        /'held' .* said goodbye \(recorded only now, as the state journal could not be written then\): released 1 grant/,
      );
      expect(stderr).not.toMatch(/'held' .* lost its lease/);
      expect(stderr).toMatch(
        /the state journal \S+ takes changes again: \d+ were refused in the [\d.]+ s it could not be written/,
      );
    }),
  60_000,
);

testUnless(
  cannotMount,
  "a full file system under --state at start: refused naming it, no half-written STATE.tmp-PID left",
  () =>
    withSmallTmpfs("full-at-start", async (small) => {
      fill(small, 0);
      const state = join(small, "arbiter.state");
      const { exitCode, stderr } = await runHost({ ...files("full-at-start"), state });
      expect(exitCode).toBe(1);
      expectOneLine(stderr, "state journal's file system is full (ENOSPC)");
      expect(readdirSync(small)).toEqual(["filler"]);
    }),
  60_000,
);

test("--state in a directory that does not exist: one line naming it, exit 1", async () => {
  const state = join(paths.dir, "no-such-dir", "x.state");
  const { exitCode, stderr } = await runHost({ ...files("nodir"), state });
  expect(exitCode).toBe(1);
  expectOneLine(
    stderr,
    `the directory ${join(paths.dir, "no-such-dir")} does not exist (ENOENT); create it or pass --state in an existing directory`,
  );
});

testUnless(
  process.getuid?.() === 0 ? toolMissing("setpriv") : "only root can run a process as another user",
  "--state in a directory this user may not write: one line naming it, exit 1",
  async () => {
    const open = join(paths.dir, "open");
    mkdirSync(open, { mode: 0o777 });
    chmodSync(open, 0o777);
    chmodSync(paths.dir, 0o755);
    const closed = join(paths.dir, "root-only");
    mkdirSync(closed, { mode: 0o755 });
    const { exitCode, stderr } = await runHost(
      { region: join(open, "region"), socket: join(open, "sock"), state: join(closed, "x.state") },
      [],
      65534,
    );
    expect(exitCode).toBe(1);
    expectOneLine(stderr, `this user (uid 65534) may not write in ${closed} (EACCES)`);
  },
);

/** Region and socket paths of their own for one `ivsh host` start. */
function files(label: string): { region: string; socket: string } {
  return { region: join(paths.shmDir, `${label}.region`), socket: join(paths.dir, `${label}.sock`) };
}

test("a directory as --region: RegionInvalid naming it, exit 1", async () => {
  const { exitCode, stderr } = await runHost({ region: paths.dir, socket: files("dir").socket });
  expect(exitCode).toBe(1);
  expectOneLine(
    stderr,
    `Failed to open the region ${paths.dir} since it is a directory (--region names a file`,
  );
});

for (const [kind, make] of [
  ["a FIFO", (path: string) => void execFileSync("mkfifo", [path])],
  ["/dev/zero", undefined],
] as const)
  test(`${kind} as --region: RegionInvalid saying it is no regular file, not a raw 'ftruncate: EINVAL'`, async () => {
    const region = make ? join(paths.dir, "fifo.region") : "/dev/zero";
    make?.(region);
    const state = join(paths.dir, `${make ? "fifo" : "zero"}.state`);
    const { exitCode, stderr } = await runHost({ region, socket: files("not-a-file").socket, state });
    expect(exitCode).toBe(1);
    expect(stderr).not.toContain("ftruncate");
    expectOneLine(
      stderr,
      `Failed to serve ${region} since it is ${make ? "a named pipe (FIFO)" : "a character device"}, not a regular file`,
    );
    expect(existsSync(state)).toBe(false);
  });

test("a FIFO as --state: refused at once, saying what it is, not an open(2) that waits for a writer and ignores Ctrl-C", async () => {
  const state = join(paths.dir, "fifo.state");
  execFileSync("mkfifo", [state]);
  const { region, socket } = files("fifo-state");
  const host = Bun.spawn(
    [
      process.execPath,
      CLI,
      "host",
      "--exit-with-parent",
      "--region",
      region,
      "--socket",
      socket,
      "--size",
      "1MiB",
      "--state",
      state,
    ],
    { stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } },
  );
  const stderr = new Response(host.stderr).text();
  // Before, it hung in open(2) for ever; SIGINT (Ctrl-C) did not end it: only SIGKILL or a writer did.
  const ended = await Promise.race([host.exited, Bun.sleep(20_000).then(() => "hung" as const)]);
  if (ended === "hung") {
    host.kill("SIGINT");
    await Bun.sleep(2000);
    host.kill("SIGKILL");
  }
  expect(ended).toBe(1);
  expectOneLine(await stderr, `Failed to use --state ${state} since it is a FIFO, not a regular file`);
  expect(existsSync(region)).toBe(false);
  expect(existsSync(socket)).toBe(false);
});

test("a region larger than its file system's free space is refused at start, and not left behind", async () => {
  const { region, socket } = files("huge");
  const { exitCode, stderr } = await runHost({ region, socket }, ["--size", "4096GiB"]);
  expect(exitCode).toBe(1);
  expectOneLine(stderr, `more but its file system at ${paths.shmDir} has only`);
  expect(stderr).toContain("free; pass a smaller --size or free space there");
  expect(existsSync(region)).toBe(false);
});

testUnless(cannotMount, "a region larger than a small tmpfs's free space is refused at start", () =>
  withSmallTmpfs("small-region", async (small) => {
    const { exitCode, stderr } = await runHost(
      { region: join(small, "region"), socket: files("small").socket },
      ["--size", "16MiB"],
    );
    expect(exitCode).toBe(1);
    expectOneLine(stderr, `the region needs 16.0 MiB more but its file system at ${small} has only`);
  }),
);

// It was "ftruncate /dev/shm/ivsh: EFBIG (File too large)": the call, not the limit or what to do.
testUnless(
  toolMissing("prlimit"),
  "a region past the file-size limit (ulimit -f) is refused at start naming it",
  async () => {
    const { region, socket } = files("past-fsize");
    const { exitCode, stderr } = await runHost({ region, socket }, ["--size", "16MiB"], undefined, [
      "prlimit",
      "--fsize=1048576",
    ]);
    expect(exitCode).toBe(1);
    expectOneLine(
      stderr,
      `Failed to use ${region} as a 16.0 MiB region since the file would grow past this process's file-size limit (ulimit -f 1024 KiB) or the largest file its file system allows (EFBIG): raise the limit (ulimit -f unlimited), or pass a smaller --size`,
    );
    expect(existsSync(region)).toBe(false);
  },
);

test("an existing file that is neither an ivsh region nor zeros is refused, not formatted", async () => {
  const victim = join(paths.dir, "victim");
  writeFileSync(victim, "my important disk image\n");
  truncateSync(victim, 8 << 20);
  const before = readFileSync(victim);
  const { exitCode, stderr } = await runHost({ region: victim, socket: files("victim").socket }, [
    ...["--size", "8MiB", "--state", join(paths.dir, "victim.state")],
  ]);
  expect(exitCode).toBe(1);
  expectOneLine(stderr, `Failed to use ${victim} as a region since it is not an ivsh region (no ivsh header`);
  expect(stderr).toContain("remove it if it is garbage, or pass another --region");
  expect(readFileSync(victim).equals(before)).toBe(true);
});

test("an all-zero file (as QEMU or truncate makes it) and an ivsh region without its state are served", async () => {
  const { region, socket } = files("zeros");
  writeFileSync(region, "");
  truncateSync(region, 8 << 20);
  // Zeros written (blocks allocated, not holes) are zeros too: the scan reads them.
  const fd = openSync(region, "r+");
  writeSync(fd, Buffer.alloc(1 << 20), 0, 1 << 20, 3 << 20);
  closeSync(fd);
  const zeroPaths = { ...paths, region, socket, state: join(paths.dir, "zeros.state") };
  const first = await ArbiterProcess.start(zeroPaths, { size: "8MiB" });
  await first.stop();
  // Its state gone, the region still has its header: formatted again, as before.
  rmSync(zeroPaths.state);
  const second = await ArbiterProcess.start(zeroPaths, { size: "8MiB" });
  await second.stop();
  expect(await second.spawned.stderr).toContain("arbiter serving");
});

test("a client's name cannot forge lines in the arbiter's log: control characters are escaped", async () => {
  const forgedPaths = { ...paths, ...files("forged"), state: join(paths.dir, "forged.state") };
  // -v: a session that asks for nothing is logged at debug.
  const arbiter = await ArbiterProcess.start(forgedPaths, { extra: ["-v"] });
  const forged = "[ivsh] WARN client #2 'db' (pid 1, VM prod-db) lost its lease: forged";
  const client = await connect({ ...files("forged"), name: `x'\n${forged}\r\x1b[2K\u2028` });
  await client.close();
  await arbiter.stop();
  const stderr = await arbiter.spawned.stderr;
  expect(stderr.split("\n").filter((line) => line.startsWith(forged))).toEqual([]);
  expect(stderr).toContain(`'x'\\n${forged}\\r\\x1b[2K\\u2028'`);
});

test("a region file truncated under the running arbiter: it exits 1 saying so, no crash", async () => {
  for (const size of [0, 1 << 20]) {
    const truncated = {
      ...paths,
      ...files(`truncated-${size}`),
      state: join(paths.dir, `truncated-${size}.state`),
    };
    const arbiter = await ArbiterProcess.start(truncated, { lease: "1s" });
    truncateSync(truncated.region, size);
    expect(await arbiter.spawned.exit()).toBe(1);
    const stderr = await arbiter.spawned.stderr;
    expect(stderr).toContain(
      `the region file ${truncated.region} was truncated to ${size} bytes (from 16777216)`,
    );
    expect(stderr).not.toContain("panic");
    await arbiter.stop(); // already gone: only reaps it
  }
});

test("a region file removed or replaced under the running arbiter is logged once; connected clients go on", async () => {
  for (const how of ["removed", "replaced"] as const) {
    const { region, socket } = files(`gone-${how}`);
    const host = Bun.spawn(
      [
        ...[process.execPath, CLI, "host", "--exit-with-parent", "--region", region, "--socket", socket],
        ...["--state", join(paths.dir, `gone-${how}.state`), "--size", "16MiB", "--lease", "1s"],
      ],
      { stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } },
    );
    try {
      await eventually(() => socketAnswers(socket), livenessBoundMs(1000), "the arbiter to listen");
      const client = await connect({ socket, region });
      rmSync(region);
      if (how === "replaced") writeFileSync(region, "another file");
      const wanted = `the region file ${region} was removed or replaced while the arbiter ran`;
      const stderr = await readUntil(host.stderr, wanted);
      expect(stderr).toContain(wanted);
      const segment = await client.alloc(4096);
      segment.bytes[0] = 1;
      await client.close();
    } finally {
      host.kill("SIGKILL");
      await host.exited;
      rmSync(region, { force: true });
    }
  }
}, 60_000);
