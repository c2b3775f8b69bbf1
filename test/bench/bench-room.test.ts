/**
 * A /dev/shm too small for the benchmark's region: said before anything runs, with advice in the flags
 * `ivsh bench` takes (the arbiter's own refusal advised "--size", which bench does not take). Runs in a
 * private mount namespace with a small /dev/shm of its own, so the machine's is never filled.
 */
import { expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { CLI } from "../helpers/paths.ts";
import { exitOrKill, readUntil } from "../helpers/processes.ts";
import { tracked } from "../helpers/reaper.ts";
import { testUnless } from "../helpers/tools.ts";

const noPrivateShm =
  Bun.spawnSync(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /dev/shm"], {
    stderr: "ignore",
  }).exitCode === 0
    ? undefined
    : "cannot mount a private /dev/shm in a mount namespace (needs root and unshare)";

/** `ivsh bench ARGS` in a mount namespace of its own whose /dev/shm is a tmpfs of `size` (mount's size=). */
function benchInPrivateShm(size: string, args: string[]) {
  const script = `mount -t tmpfs -o size=${size} tmpfs /dev/shm && exec "$@"`;
  return tracked(
    Bun.spawn(["unshare", "-m", "sh", "-c", script, "sh", process.execPath, CLI, "bench", ...args], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1" },
    }),
  );
}

/** `ivsh bench ARGS` with a /dev/shm of `size` (mount's size=); its exit code and stderr. */
async function benchWithShm(size: string, args: string[]): Promise<{ exitCode: number; stderr: string }> {
  const run = benchInPrivateShm(size, args);
  // Bounded: a benchmark that started measuring instead is killed, and the test fails.
  const timer = setTimeout(() => run.kill("SIGKILL"), 30_000);
  const [exitCode, stderr] = await Promise.all([run.exited, new Response(run.stderr).text()]);
  clearTimeout(timer);
  return { exitCode, stderr };
}

/**
 * `ivsh bench ARGS --disk-dir (a fresh directory)` with a /dev/shm of `size`, read until it says `until`
 * (a failure ends the stream before it), then interrupted; what it said by then.
 */
async function benchUntil(size: string, args: string[], until: string): Promise<string> {
  const disk = mkdtempSync("/tmp/ivsh-bench-test-room-");
  const run = benchInPrivateShm(size, [...args, "--disk-dir", disk]);
  try {
    const stderr = await readUntil(run.stderr, until);
    run.kill("SIGINT");
    await exitOrKill(run, 60_000);
    return stderr;
  } finally {
    rmSync(disk, { recursive: true, force: true });
  }
}

testUnless(
  noPrivateShm,
  "the full benchmark where --quick's room fits: refused up front, advising --quick, not --size",
  async () => {
    const { exitCode, stderr } = await benchWithShm("1000m", []);
    expect(stderr).toContain(
      "Failed to run the benchmark since its region and end-to-end files need 4.50 GiB in /dev/shm, which has only 1000.0 MiB free",
    );
    expect(stderr).toContain("or run with --quick (its region and end-to-end files need 644.0 MiB)");
    expect(stderr).not.toContain("--size");
    expect(stderr).not.toContain("warming up");
    expect(exitCode).toBe(1);
  },
  40_000,
);

/**
 * The end-to-end rows write their source file and the new file they receive (the run's size each) to
 * /dev/shm beside the region: the check counted the region only, so a --quick run on a 300 MiB /dev/shm
 * (where the full benchmark advised --quick) passed it and then failed after its warm-up, with ENOSPC.
 */
testUnless(
  noPrivateShm,
  "--quick where its region fits but not the end-to-end files beside it: refused up front",
  async () => {
    const { exitCode, stderr } = await benchWithShm("300m", ["--quick"]);
    expect(stderr).toContain(
      "Failed to run the benchmark since its region and end-to-end files need 644.0 MiB in /dev/shm, which has only 300.0 MiB free",
    );
    expect(stderr).not.toContain("warming up");
    expect(exitCode).toBe(1);
  },
  40_000,
);

/**
 * The region is a sparse file: its arbiter needs room for all of it as it starts (256 MiB with --quick),
 * but the run then writes only its largest ring (128 MiB) and header into it, beside the end-to-end files
 * (2 × 256 MiB): 640 MiB at most at once. Counted whole, the region made the check ask 768 MiB, and a
 * --quick on a 650 MiB /dev/shm was refused though it fits. Run past round 1's end-to-end rows (where the
 * files sit beside the ring), then stopped.
 */
testUnless(
  noPrivateShm,
  "--quick on a /dev/shm that holds what it writes, not its whole sparse region beside the files: it runs",
  async () => {
    // Round 1's second step follows its end-to-end rows.
    const stderr = await benchUntil("650m", ["--quick"], "round 1 of 3: the report's loops");
    expect(stderr).not.toContain("in /dev/shm, which has only");
    expect(stderr).not.toContain("ENOSPC");
    expect(stderr).toContain("round 1 of 3: the report's loops");
  },
  180_000,
);

/**
 * A --disk-dir in /dev/shm puts the "file on disk" region and Fig. 4b's file there too, but each check
 * counted its own: 4ae1c23 made /dev/shm's exact (644 MiB with --quick), so a --quick --disk-dir /dev/shm
 * on 645 MiB passed both and failed in round 1's end-to-end rows with ENOSPC (the whole region counted had
 * left room for them before). Both are counted where they share the file system.
 */
testUnless(
  noPrivateShm,
  "--quick with --disk-dir in /dev/shm, where the two together do not fit: refused up front",
  async () => {
    const { exitCode, stderr } = await benchWithShm("645m", ["--quick", "--disk-dir", "/dev/shm"]);
    expect(stderr).toContain(
      "Failed to run the benchmark since its regions, end-to-end files and Fig. 4b's file (--disk-dir is in /dev/shm) need 740.0 MiB in /dev/shm, which has only 645.0 MiB free",
    );
    expect(stderr).not.toContain("warming up");
    expect(exitCode).toBe(1);
  },
  40_000,
);

testUnless(
  noPrivateShm,
  "--quick and --scale where even theirs does not fit: what to free, not --size",
  async () => {
    const quick = await benchWithShm("64m", ["--quick"]);
    expect(quick.stderr).toContain(
      "its region and end-to-end files need 644.0 MiB in /dev/shm, which has only 64.0 MiB free",
    );
    expect(quick.stderr).toContain("free space there");
    expect(quick.stderr).not.toContain("--size");
    expect(quick.exitCode).toBe(1);
    const scale = await benchWithShm("64m", ["--scale"]);
    expect(scale.stderr).toContain(
      "Failed to run the scale benchmark since its region and state journal need 600.4 MiB",
    );
    expect(scale.stderr).toContain("fewer --allocations or --clients");
    expect(scale.stderr).not.toContain("--size");
    expect(scale.exitCode).toBe(1);
  },
  80_000,
);

testUnless(
  noPrivateShm,
  "--scale where /dev/shm holds its region but not its state journal, kept next to it: refused up front",
  async () => {
    // The region of --scale --quick is 16 MiB: it fitted, and the restart after kill -9 found its journal had
    // taken the room and the arbiter refused, advising --size.
    const { exitCode, stderr } = await benchWithShm("16m", ["--scale", "--quick"]);
    expect(stderr).toContain(
      "Failed to run the scale benchmark since its region and state journal need 17.6 MiB in /dev/shm, which has only 16.0 MiB free",
    );
    expect(stderr).not.toContain("--size");
    expect(stderr).not.toContain("scale: ready");
    expect(exitCode).toBe(1);
  },
  40_000,
);

/**
 * With --vm the VM rounds run against an arbiter of their own (a 64 MiB region in /dev/shm), after the
 * end-to-end files are removed: the check added that region to the files', so a --quick --vm on an 800 MiB
 * /dev/shm (640 MiB at most at once) was refused as needing 832 MiB. Stopped once it starts measuring.
 */
testUnless(
  noPrivateShm,
  "--quick --vm where the run fits: not refused for a VM region that never sits beside the end-to-end files",
  async () => {
    const stderr = await benchUntil("800m", ["--quick", "--vm"], "warming up");
    expect(stderr).not.toContain("in /dev/shm, which has only");
    expect(stderr).toContain("warming up");
  },
  90_000,
);

/**
 * --scale --vm measures guest connections after the scale run, each case against an arbiter of its own on
 * a 64 MiB region in /dev/shm: the check counted the scale run's region and journal only (17.6 MiB with
 * --quick), so the whole scale run went by and the guests' arbiter then refused, advising --size.
 */
testUnless(
  noPrivateShm,
  "--scale --vm where the scale run fits but not the guests' region after it: refused up front",
  async () => {
    const { exitCode, stderr } = await benchWithShm("40m", ["--scale", "--quick", "--vm"]);
    expect(stderr).toContain("in /dev/shm, which has only 40.0 MiB free");
    expect(stderr).not.toContain("--size");
    expect(stderr).not.toContain("scale: ");
    expect(exitCode).toBe(1);
  },
  40_000,
);

/**
 * The journal grows with --seconds × --rate: a long --seconds was refused advising "run with --quick (its
 * region and state journal need 17.6 MiB)", the size of --quick's own defaults, though --quick keeps the
 * --seconds given (and then needed as much), and "pass fewer --allocations or --clients", not --seconds.
 */
testUnless(
  noPrivateShm,
  "--scale with a --seconds whose journal does not fit: advises that, not a --quick that would not fit either",
  async () => {
    const { exitCode, stderr } = await benchWithShm("64m", ["--scale", "--seconds", "100000"]);
    expect(stderr).toContain("Failed to run the scale benchmark since its region and state journal need");
    expect(stderr).not.toContain("run with --quick");
    expect(stderr).toContain("--seconds");
    expect(stderr).not.toContain("scale: ready");
    expect(exitCode).toBe(1);
    // Where --quick with the --seconds given does fit, it is advised with what it then needs.
    const fits = await benchWithShm("64m", ["--scale", "--seconds", "30"]);
    const quick = await benchWithShm("1m", ["--scale", "--quick", "--seconds", "30"]);
    const needs = /journal need ([\d.]+ [KMG]iB)/.exec(quick.stderr)?.[1];
    expect(needs, quick.stderr).toBeDefined();
    expect(fits.stderr).toContain(`run with --quick (its region and state journal need ${needs})`);
    expect(fits.exitCode).toBe(1);
  },
  80_000,
);

/**
 * `ivsh bench ARGS --disk-dir D` where D is a tmpfs of `diskSize` and /dev/shm one of 6g (room for the
 * full benchmark's region), both in a mount namespace of the run's own: whatever it writes goes with it.
 */
async function benchWithDiskDir(diskSize: string, args: string[]) {
  const disk = mkdtempSync("/tmp/ivsh-bench-test-disk-");
  const script = `mount -t tmpfs -o size=6g tmpfs /dev/shm && mount -t tmpfs -o size=${diskSize} tmpfs "$0" && exec "$@"`;
  const command = [process.execPath, CLI, "bench", ...args, "--disk-dir", disk];
  const run = Bun.spawn(["unshare", "-m", "sh", "-c", script, disk, ...command], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1" },
  });
  // Bounded: a benchmark that started measuring instead is killed (its namespace's files go with it).
  const timer = setTimeout(() => run.kill("SIGKILL"), 30_000);
  const [exitCode, stderr] = await Promise.all([run.exited, new Response(run.stderr).text()]);
  clearTimeout(timer);
  rmSync(disk, { recursive: true, force: true });
  return { disk, exitCode, stderr };
}

/**
 * The "file on disk" rows keep a 64 MiB region in --disk-dir, and Fig. 4b maps a file of 32 MiB (--quick)
 * or 256 MiB beside it, sparse until touched. A --disk-dir without room for the region was refused by its
 * arbiter advising --size, which bench does not take; one with room for the region but not the file ran
 * the whole benchmark and then died of SIGBUS touching the file's pages, leaving its files behind.
 */
testUnless(
  noPrivateShm,
  "a --disk-dir without room for its region and Fig. 4b's file: refused up front naming it, not --size",
  async () => {
    const small = await benchWithDiskDir("40m", ["--quick"]);
    expect(small.stderr).toContain(`Failed to use --disk-dir ${small.disk} since`);
    expect(small.stderr).toContain("free space there, or pass another --disk-dir");
    expect(small.stderr).not.toContain("--size");
    expect(small.stderr).not.toContain("warming up");
    expect(small.exitCode).toBe(1);
    const full = await benchWithDiskDir("100m", []);
    expect(full.stderr).toContain(`Failed to use --disk-dir ${full.disk} since`);
    expect(full.stderr).toContain("or run with --quick");
    expect(full.stderr).not.toContain("warming up");
    expect(full.exitCode).toBe(1);
  },
  80_000,
);
