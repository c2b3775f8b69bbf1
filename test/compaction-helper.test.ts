/**
 * The arbiter's compaction helper (`ivsh compact-state`) ended from outside, as an operator trial ended
 * it: killed by a signal (kill -9, the OOM killer), or stopped and never resumed. The arbiter says what
 * happened and what to look at, leaves no half-written snapshot, and loses nothing.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { socketAnswers } from "../src/host/listener.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { eventually, livenessBoundMs, readUntil } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";

let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("compaction-helper");
});
afterAll(() => paths?.cleanup());

/**
 * An arbiter that compacts after a handful of records, with its stderr to read as it goes. `ignoring`: it
 * starts with that signal ignored, in a process group of its own, as a script's `ivsh host &` does.
 */
async function startHost(
  label: string,
  env: Record<string, string>,
  state = `${paths.dir}/${label}.state`,
  ignoring?: "INT",
) {
  const region = `${paths.shmDir}/${label}`;
  const socket = `${paths.dir}/${label}.sock`;
  const command = [
    ...[process.execPath, CLI, "host", "--exit-with-parent", "--region", region, "--socket", socket],
    ...["--state", state, "--size", "16MiB", "--block-size", "4KiB", "--lease", "1s"],
  ];
  const host = tracked(
    Bun.spawn(ignoring ? ["sh", "-c", `trap '' ${ignoring}; exec "$@"`, "sh", ...command] : command, {
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1", IVSH_COMPACT_AFTER_RECORDS: "5", ...env },
      detached: ignoring !== undefined,
    }),
  );
  await eventually(() => socketAnswers(socket), livenessBoundMs(1000), "the arbiter to listen");
  return { host, region, socket, state };
}

/** The pid and state letter of `parent`'s compaction helper, if one runs now. */
function helperOf(parent: number): { pid: number; state: string } | undefined {
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(ppid) !== parent) continue;
      if (readFileSync(`/proc/${name}/cmdline`, "utf8").includes("compact-state"))
        return { pid: Number(name), state: state! };
    } catch {} // gone meanwhile
  }
  return undefined;
}

/**
 * Appends records until a helper runs, and stops it (SIGSTOP) before it can finish: its pid. A helper
 * found already finished (a zombie) or gone is missed, and the next one is tried; one still in the shell
 * that starts it with the arbiter's ignored signals ignored (src/signals.ts) is let go on.
 */
async function stopAHelper(socket: string, region: string, arbiter: number): Promise<number> {
  const client = await connect({ socket, region, name: "appender" });
  try {
    for (let round = 0; round < 2000; round++) {
      const segment = await client.alloc(4096);
      await segment.free();
      const helper = helperOf(arbiter);
      if (!helper || helper.state === "Z") continue;
      try {
        process.kill(helper.pid, "SIGSTOP");
      } catch {
        continue;
      }
      if (helperOf(arbiter)?.state !== "T") continue;
      if (readlinkSync(`/proc/${helper.pid}/exe`) === process.execPath) return helper.pid;
      process.kill(helper.pid, "SIGCONT");
    }
    throw new Error("no compaction helper was caught running");
  } finally {
    await client.close();
  }
}

function leftovers(state: string): string[] {
  return readdirSync(dirname(state)).filter((name) => name.startsWith(`${basename(state)}.compact-`));
}

/** Compactions the arbiter at `socket` has taken over since it started. */
async function compactionsOf(socket: string): Promise<number> {
  return (await fetchStatus({ unix: socket }, 0)).report.compactions;
}

test("a helper killed by a signal: the warning names the signal and the OOM killer, not the disk", async () => {
  const { host, region, socket, state } = await startHost("killed", {});
  try {
    const helper = await stopAHelper(socket, region, host.pid);
    process.kill(helper, "SIGKILL");
    const wanted = "next try in";
    const stderr = await readUntil(host.stderr, wanted);
    expect(stderr).toContain(`its helper \`ivsh compact-state\` (pid ${helper}) was killed by SIGKILL`);
    expect(stderr).toContain("the kernel's OOM killer may have");
    expect(stderr).not.toContain("free space");
    expect(leftovers(state)).toEqual([]);
  } finally {
    host.kill("SIGKILL");
    await host.exited;
  }
}, 60_000);

// A script's background `ivsh host &` has SIGINT ignored, so that a Ctrl-C meant for its foreground job
// (sent to the whole process group) leaves it serving; its helper, started by Bun.spawn, had SIGINT at its
// default again: that Ctrl-C killed it, and the compaction failed ("was killed by SIGINT") and was retried.
test("the helper of an arbiter started with SIGINT ignored ignores it too: a Ctrl-C to the group does not fail its compaction", async () => {
  const { host, region, socket, state } = await startHost("ignored", {}, undefined, "INT");
  try {
    const helper = await stopAHelper(socket, region, host.pid);
    const warned = readUntil(host.stderr, "next try in").then((stderr) => `warned: ${stderr}`);
    // Sent while it is stopped: a signal at its default action ends it all the same; an ignored one is dropped.
    process.kill(-host.pid, "SIGINT");
    process.kill(helper, "SIGCONT");
    const compacted = async () => (await compactionsOf(socket)) > 0;
    const outcome = await Promise.race([
      warned,
      eventually(compacted, livenessBoundMs(1000), "its compaction").then(() => "compacted"),
    ]);
    expect(outcome).toBe("compacted");
    expect(host.exitCode).toBeNull();
    expect(leftovers(state)).toEqual([]);
  } finally {
    host.kill("SIGKILL");
    await host.exited;
  }
}, 60_000);

test("a helper stopped past its deadline is killed and said to be, leaving no half-written snapshot", async () => {
  const { host, region, socket, state } = await startHost("stopped", { IVSH_COMPACT_DEADLINE_MS: "1000" });
  try {
    const helper = await stopAHelper(socket, region, host.pid);
    const stderr = await readUntil(host.stderr, "next try in");
    expect(stderr).toContain(`(pid ${helper}) had not finished after 1 s and was killed`);
    expect(stderr).toContain("was stopped (SIGSTOP) or waits on a stuck disk");
    expect(helperOf(host.pid)).toBeUndefined();
    expect(leftovers(state)).toEqual([]);
  } finally {
    host.kill("SIGKILL");
    await host.exited;
  }
}, 60_000);

test("a journal removed with its directory: no helper runs on it meanwhile, and compaction resumes once it is written again", async () => {
  const directory = join(paths.dir, "gone");
  mkdirSync(directory);
  const { host, region, socket } = await startHost("gone", {}, join(directory, "journal.state"));
  const client = await connect({ socket, region, name: "gone" });
  try {
    await client.alloc(4096, { name: "kept" });
    rmSync(directory, { recursive: true });
    await readUntil(host.stderr, "cannot be written again");
    // Changes the arbiter can only append to the removed file: more than enough for a compaction.
    for (let round = 0; round < 10; round++) await (await client.alloc(4096)).free();
    // Twelve sweeps at least (a quarter lease each). A helper started on the missing journal failed, and
    // its warning said "nothing is lost" while the arbiter had said a restart would discard everything;
    // one killed by the next sweep was started again at the one after.
    const helpers = new Set<number>();
    for (const until = performance.now() + 3000; performance.now() < until; await Bun.sleep(5)) {
      const helper = helperOf(host.pid);
      if (helper) helpers.add(helper.pid);
    }
    expect([...helpers]).toEqual([]);
    const before = await compactionsOf(socket);
    mkdirSync(directory);
    await readUntil(host.stderr, "wrote it again from the arbiter's state");
    for (let round = 0; round < 10; round++) await (await client.alloc(4096)).free();
    const compacted = async () => (await compactionsOf(socket)) > before;
    await eventually(compacted, livenessBoundMs(1000), "a compaction of the journal written again");
  } finally {
    await client.close();
    host.kill("SIGKILL");
    await host.exited;
  }
}, 60_000);

// 3e9 ms (35 days) overflowed the timer, which fired at once: every helper was killed as overdue. 0 is no
// deadline a helper can meet either: the default (10 min) holds, not a timer of 0 ms.
for (const [setting, label, name] of [
  [
    "3000000000",
    "a deadline past setTimeout's limit (IVSH_COMPACT_DEADLINE_MS of weeks) is the limit, not 1 ms",
    "long-deadline",
  ],
  ["0", "IVSH_COMPACT_DEADLINE_MS=0 is the default deadline, not one every helper misses", "zero-deadline"],
] as const)
  test(label, async () => {
    const { host, region, socket } = await startHost(name, { IVSH_COMPACT_DEADLINE_MS: setting });
    const client = await connect({ socket, region, name });
    try {
      const compacted = async () => {
        await (await client.alloc(4096)).free();
        return (await compactionsOf(socket)) > 0;
      };
      await eventually(compacted, livenessBoundMs(1000), "a compaction taken over");
    } finally {
      await client.close();
      host.kill("SIGKILL");
      await host.exited;
    }
  }, 60_000);
