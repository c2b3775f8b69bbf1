/**
 * src/commands/bench.ts's checks before anything is measured, at their edges: --scale's --json checked as
 * the default benchmark's is, and a --disk-dir with exactly the room its region and Fig. 4b's file need
 * taken (the run then goes on to its next step).
 */
import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI } from "../helpers/paths.ts";
import { EXIT_BOUND_MS, exitOrKill } from "../helpers/processes.ts";
import { tracked } from "../helpers/reaper.ts";
import { testUnless } from "../helpers/tools.ts";

const noPrivateMounts =
  Bun.spawnSync(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /dev/shm"], {
    stderr: "ignore",
  }).exitCode === 0
    ? undefined
    : "cannot mount a tmpfs in a mount namespace (needs root and unshare)";

/** `ivsh bench ARGS`: its exit code and stderr, a run that started measuring instead killed at the bound. */
async function bench(command: string[], env: Record<string, string> = {}) {
  const run = tracked(
    Bun.spawn(command, {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1", ...env },
    }),
  );
  const stderr = new Response(run.stderr).text();
  const exitCode = await exitOrKill(run, EXIT_BOUND_MS);
  return { exitCode, stderr: await stderr };
}

// --scale took its --json unchecked: a --json under a file ran the whole scale benchmark, then failed to
// write its results.
test("--scale --json under a file: refused before the scale benchmark starts", async () => {
  const dir = mkdtempSync("/tmp/ivsh-bench-edges-");
  try {
    writeFileSync(join(dir, "file"), "");
    const json = join(dir, "file/results.json");
    const { exitCode, stderr } = await bench([
      process.execPath,
      CLI,
      "bench",
      "--scale",
      "--quick",
      "--json",
      json,
    ]);
    expect(stderr).toContain(`Failed to write --json ${json} since ${join(dir, "file")} is not a directory`);
    expect(stderr).not.toContain("scale: ");
    expect(exitCode).toBe(1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// --quick's --disk-dir holds its 64 MiB region and Fig. 4b's 32 MiB file: a tmpfs of exactly 96 MiB is
// enough. A TMPDIR that is not there stops the run at its next step, before anything is measured.
testUnless(
  noPrivateMounts,
  "--quick with a --disk-dir of exactly the room it needs: taken, the run goes on (to a missing TMPDIR)",
  async () => {
    const disk = mkdtempSync("/tmp/ivsh-bench-edges-disk-");
    try {
      const script = `mount -t tmpfs -o size=6g tmpfs /dev/shm && mount -t tmpfs -o size=96m tmpfs "$0" && exec "$@"`;
      const command = [process.execPath, CLI, "bench", "--quick", "--disk-dir", disk];
      const { exitCode, stderr } = await bench(["unshare", "-m", "sh", "-c", script, disk, ...command], {
        TMPDIR: join(disk, "missing"),
      });
      expect(stderr).not.toContain("Failed to use --disk-dir");
      expect(stderr).toContain(`${join(disk, "missing")}/ivsh-bench-run-`); // the missing TMPDIR, named
      expect(exitCode).toBe(1);
    } finally {
      rmSync(disk, { recursive: true, force: true });
    }
  },
);

// The FIFO is opened before the run: one with no reader is refused at once. Unchecked, the whole benchmark
// ran, then its write waited for a reader for ever.
for (const args of [["--quick"], ["--scale", "--quick"]])
  test(`bench ${args.join(" ")} --json FIFO with no reader: refused before anything is measured`, async () => {
    const dir = mkdtempSync("/tmp/ivsh-bench-edges-fifo-");
    try {
      const fifo = join(dir, "results.fifo");
      Bun.spawnSync(["mkfifo", fifo]);
      const { exitCode, stderr } = await bench([
        process.execPath,
        CLI,
        "bench",
        ...args,
        "--json",
        fifo,
        ...(args.includes("--scale") ? [] : ["--disk-dir", dir]),
      ]);
      expect(stderr).toContain(`Failed to write --json ${fifo} since no program reads the FIFO`);
      expect(stderr).not.toContain("warming up");
      expect(stderr).not.toContain("scale: ");
      expect(exitCode).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

// The JSON's charts are the SVG files written into --out: without --out there are none. (A whole --quick
// run: the list is made from the flags after the run.)
test("bench --quick --json without --out: the JSON lists no charts", async () => {
  const dir = mkdtempSync("/tmp/ivsh-bench-edges-charts-");
  try {
    const json = join(dir, "results.json");
    const run = tracked(
      Bun.spawn([process.execPath, CLI, "bench", "--quick", "--json", json, "--disk-dir", dir], {
        stdin: "ignore",
        stdout: "ignore",
        stderr: "pipe",
        env: { ...process.env, NO_COLOR: "1" },
      }),
    );
    const stderr = new Response(run.stderr).text();
    const exitCode = await exitOrKill(run, 170_000);
    expect({ exitCode, stderr: exitCode === 0 ? "" : await stderr }).toEqual({ exitCode: 0, stderr: "" });
    expect(JSON.parse(readFileSync(json, "utf8")).charts).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 180_000);
