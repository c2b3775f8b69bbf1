/**
 * `ivsh bench --quick` as CI runs it: a real run against real arbiters and workers. Checks the outputs'
 * structure and that nothing is left behind, normally and after Ctrl-C; never the speed (the goals are
 * reported by the benchmark, not asserted here).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI } from "../helpers/paths.ts";
import { spawnBun } from "../helpers/processes.ts";
import { testUnless } from "../helpers/tools.ts";
import { allElements, parseXml } from "./xml.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync("/tmp/ivsh-bench-test-");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Entries a bench run makes in shared temporary places (it must remove them all): those named with the
 * run's pid (ivsh-bench-KIND-PID-XXXXXX), and any not named with a pid at all, so that a bench or demo
 * another process runs on the machine meanwhile is not taken for this run's leftovers.
 */
function benchLeftovers(pid: number): string[] {
  return ["/dev/shm", "/tmp", "/var/tmp"].flatMap((parent) =>
    readdirSync(parent)
      .filter((name) => name.startsWith("ivsh-bench-") && !name.startsWith("ivsh-bench-test-"))
      .filter((name) => {
        const owner = /^ivsh-bench-[a-z0-9]+-(\d+)-/.exec(name)?.[1];
        return owner === undefined || Number(owner) === pid;
      })
      .map((name) => join(parent, name)),
  );
}

/** Every live descendant of `pid`, from /proc. */
function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const [state, ppid] = readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1]!.split(" ");
      if (state !== "Z") parents.set(Number(entry), Number(ppid));
    } catch {
      // exited while we looked
    }
  }
  const found: number[] = [];
  const visit = (parent: number) => {
    for (const [child, ppid] of parents)
      if (ppid === parent) {
        found.push(child);
        visit(child);
      }
  };
  visit(pid);
  return found;
}

function alive(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.startsWith("Z");
  } catch {
    return false;
  }
}

describe("ivsh bench --quick", () => {
  test("writes the tables, the JSON document and every figure, and cleans up", async () => {
    // Before the run there is no pid of its own: only the untagged entries can be there already.
    const before = new Set(benchLeftovers(0));
    const json = join(dir, "results.json");
    const out = join(dir, "figures");
    const run = spawnBun([CLI, "bench", "--quick", "--json", json, "--out", out, "--disk-dir", dir]);
    const [exitCode, stderr] = await Promise.all([run.exit(170_000), run.stderr, run.events.finished]);
    expect({ exitCode, stderr: exitCode === 0 ? "" : stderr }).toEqual({ exitCode: 0, stderr: "" });

    const stdout = run.events.text;
    for (const heading of [
      "## The limit",
      "## The digest",
      "## Fig. 3a",
      "## Fig. 3b",
      "## Fig. 4a",
      "## Fig. 4b",
      "## Goals",
    ])
      expect(stdout).toContain(heading);

    const report = JSON.parse(readFileSync(json, "utf8"));
    expect(report.schema).toBe("ivsh-bench/2");
    expect(report.plan.quick).toBe(true);
    expect(report.sections.map((section: { id: string }) => section.id)).toEqual([
      "limit",
      "digest",
      "fig3a",
      "fig3b",
      "end-to-end",
      "fig4a",
      "condvar",
      "fig4b",
    ]);
    const results = new Map<string, { unit: string; samples?: { median: number; count: number } }>(
      report.sections.flatMap((section: { results: { id: string }[] }) =>
        section.results.map((result) => [result.id, result]),
      ),
    );
    const measured = [
      "loops.ivsh",
      "loops.rpc",
      "loops.socket",
      "pingpong.ratio",
      "wake.ratio",
      "memcpy.large",
      "transfer.ivsh",
      "transfer.ivsh-setup",
      "transfer.ivsh-disk",
      "transfer.unix-bun",
      "transfer.tcp-bun",
      "e2e.ivsh-null",
      "e2e.ivsh-file",
      "e2e.ivsh-small",
      "e2e.dd",
      "ratio.ivsh-unix-bun",
      "ratio.ivsh-memcpy",
      "digest.copy",
      "digest.hash",
      "digest.twoPasses",
      ...report.plan.blockSizes.map((block: number) => `sweep.${block}`),
      "lock.fast",
      "lock.rpc",
      "lock-share.fast",
      "handoff.parked",
      "handoff.spin",
      "floor.one-way",
      "floor.relay",
      "access.region.read",
      "access.anonymous.latency",
      "access.disk-file.write",
    ];
    for (const id of measured) {
      const result = results.get(id);
      expect({ id, measured: (result?.samples?.median ?? 0) > 0 }).toEqual({ id, measured: true });
    }
    expect(results.get("transfer.ivsh")?.samples?.count).toBe(report.plan.repeats);
    expect(report.goals).toHaveLength(14);
    const socat = Bun.which("socat") !== null;
    for (const goal of report.goals)
      if (socat || goal.id !== "transfer-vs-unix-socat") expect(typeof goal.pass).toBe("boolean");
    expect(report.raw.sweep).toHaveLength(report.plan.blockSizes.length);

    expect(report.charts.length).toBeGreaterThanOrEqual(6);
    for (const chart of report.charts) {
      const root = parseXml(readFileSync(join(out, chart), "utf8"));
      expect({ chart, root: root.name }).toEqual({ chart, root: "svg" });
      expect(allElements(root).some((element) => element.name === "rect" || element.name === "path")).toBe(
        true,
      );
    }
    expect(readdirSync(dir).sort()).toEqual(["figures", "results.json"]);
    expect(benchLeftovers(run.proc.pid).filter((path) => !before.has(path))).toEqual([]);
  }, 180_000);

  test("Ctrl-C stops it with exit code 130 and leaves no process or file behind", async () => {
    // Before the run there is no pid of its own: only the untagged entries can be there already.
    const before = new Set(benchLeftovers(0));
    const diskDir = mkdtempSync(join(dir, "interrupt-"));
    const run = spawnBun([CLI, "bench", "--quick", "--disk-dir", diskDir]);
    // Wait until transfers are under way: arbiters and workers are running.
    const deadline = Date.now() + 60_000;
    let children: number[] = [];
    while (Date.now() < deadline && children.length < 3) {
      await Bun.sleep(200);
      children = descendants(run.proc.pid);
    }
    expect(children.length).toBeGreaterThanOrEqual(3);
    run.proc.kill("SIGINT");
    expect(await run.exit()).toBe(130);
    for (let attempt = 0; attempt < 50 && children.some(alive); attempt++) await Bun.sleep(100);
    expect(children.filter(alive)).toEqual([]);
    expect(readdirSync(diskDir)).toEqual([]);
    expect(benchLeftovers(run.proc.pid).filter((path) => !before.has(path))).toEqual([]);
    expect(await run.stderr).toContain("interrupted");
  }, 120_000);
});

/** A second Ctrl-C (or SIGTERM) ends the run at once: it says so, and still leaves nothing behind. */
test("a second stop signal: exit 128+N with the interruption's message, nothing left behind", async () => {
  const before = new Set(benchLeftovers(0));
  const run = spawnBun([CLI, "bench", "--quick", "--disk-dir", dir]);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && descendants(run.proc.pid).length < 3) await Bun.sleep(200);
  // Two of one kind can merge in the kernel into one: a SIGTERM after the SIGINT is the second for sure.
  run.proc.kill("SIGINT");
  run.proc.kill("SIGTERM");
  expect([130, 143]).toContain(await run.exit());
  expect(await run.stderr).toMatch(/Failed to run the benchmark since it was interrupted by SIG(INT|TERM)/);
  expect(benchLeftovers(run.proc.pid).filter((path) => !before.has(path))).toEqual([]);
}, 90_000);

test("an unknown flag is a usage error", async () => {
  const run = spawnBun([CLI, "bench", "--quik"]);
  expect(await run.exit()).toBe(2);
  expect(await run.stderr).toContain("--quik");
});

/** Flags that only one of the two benchmarks reads, and an empty --out: all were silently ignored. */
test.each([
  [["--clients", "5"], "--clients"],
  [["--seconds=2", "--quick"], "--seconds"],
  [["--scale", "--quick", "--out", "/tmp"], "--out"],
  // --disk-dir had a default, so one given to --scale (which keeps no file on disk) could not be told apart.
  [["--scale", "--quick", "--disk-dir", "/tmp"], "--disk-dir places the default benchmark's file on disk"],
  [["--quick", "--out="], "--out needs the DIR"],
  // Refused as a directory that does not exist (exit 1, "--disk-dir  since"), not as the usage error it is.
  [["--quick", "--disk-dir="], "--disk-dir needs the DIR"],
  // Told to give a DIR, which --scale then refused: the flag itself is what --scale does not take.
  [["--scale", "--quick", "--disk-dir="], "--disk-dir places the default benchmark's file on disk"],
  [["--scale", "--quick", "--out="], "--scale draws no figures"],
])("bench %p is a usage error naming %s", async (flags, named) => {
  const run = spawnBun([CLI, "bench", ...flags]);
  expect(await run.exit()).toBe(2);
  expect(await run.stderr).toContain(named);
});

/** Found only once the run had measured for minutes, when the figures were to be written into it. */
test("an --out that is an existing file is refused before measuring", async () => {
  const file = join(dir, "not-a-directory");
  writeFileSync(file, "");
  const run = spawnBun([CLI, "bench", "--quick", "--out", file]);
  const [exitCode, stderr] = await Promise.all([run.exit(60_000), run.stderr]);
  expect(stderr).toContain(
    `Failed to write --out ${file} since ${file} is not a directory this user may write`,
  );
  expect(stderr).not.toContain("round 1");
  expect(exitCode).toBe(1);
}, 70_000);

/**
 * `--json results/` names a directory that is not there yet: nothing refused it up front, and after the
 * whole run the JSON's write failed (ENOTDIR), its results lost. Refused at once; the bound is far above
 * a refusal's fraction of a second and far below the run it would otherwise start.
 */
test("a --json ending in '/' (a directory, not a FILE) is refused before measuring", async () => {
  const json = `${join(dir, "missing-results")}/`;
  const run = spawnBun([CLI, "bench", "--quick", "--json", json, "--disk-dir", dir]);
  const outcome = await Promise.race([run.proc.exited, Bun.sleep(20_000).then(() => "late" as const)]);
  if (outcome === "late") run.proc.kill("SIGINT");
  const stderr = await run.stderr;
  expect(stderr).toContain(`Failed to write --json ${json} since it names a directory`);
  expect(outcome).toBe(1);
}, 40_000);

/** Needs root (a read-only tmpfs mounted in a mount namespace of its own); skipped otherwise. */
const noMountNamespace =
  Bun.spawnSync(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o ro tmpfs /mnt"], { stderr: "ignore" })
    .exitCode === 0
    ? undefined
    : "cannot mount a tmpfs in a mount namespace of its own (needs root and unshare)";

/** A read-only --disk-dir failed as "Failed to mkdtemp …", naming neither the flag nor what to do. */
testUnless(
  noMountNamespace,
  "a read-only --disk-dir is refused naming the flag",
  async () => {
    const disk = mkdtempSync(join(dir, "read-only-"));
    const script = `mount -t tmpfs -o ro tmpfs ${disk} && exec "$@"`;
    const run = Bun.spawn(
      [
        "unshare",
        "-m",
        "sh",
        "-c",
        script,
        "sh",
        process.execPath,
        CLI,
        "bench",
        "--quick",
        "--disk-dir",
        disk,
      ],
      {
        stdin: "ignore",
        stdout: "ignore",
        stderr: "pipe",
        env: { ...process.env, NO_COLOR: "1" },
      },
    );
    const [exitCode, stderr] = await Promise.all([run.exited, new Response(run.stderr).text()]);
    expect(stderr).toContain(
      `Failed to write --disk-dir ${disk} since ${disk} is not a directory this user may write`,
    );
    expect(exitCode).toBe(1);
  },
  40_000,
);

/**
 * A /dev/shm that holds the arbiters' regions but not the end-to-end source file: the file's writes
 * failed unhandled, one raw ENOSPC stack trace per MiB, and the run ended without a word of its own.
 * The room check now counts the end-to-end files, so it is refused before anything is written; a
 * /dev/shm that fills during the run still fails as one "Failed to write ... (ENOSPC)" (writeRandom).
 * In a mount namespace of its own (root only), so the machine's /dev/shm is never filled.
 */
testUnless(
  noMountNamespace,
  "a /dev/shm too small for the source file: one clear NoSpace error",
  async () => {
    const script = 'mount -t tmpfs -o size=300m tmpfs /dev/shm && exec "$@"';
    const bench = [process.execPath, CLI, "bench", "--quick", "--disk-dir", dir];
    const run = Bun.spawn(["unshare", "-m", "sh", "-c", script, "sh", ...bench], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1" },
    });
    const [exitCode, stderr] = await Promise.all([run.exited, new Response(run.stderr).text()]);
    expect(stderr).not.toContain("syscall:");
    expect(stderr).toContain(
      "Failed to run the benchmark since its region and end-to-end files need 644.0 MiB in /dev/shm, which has only 300.0 MiB free",
    );
    expect(stderr).not.toContain("warming up");
    expect(exitCode).toBe(1);
  },
  120_000,
);
