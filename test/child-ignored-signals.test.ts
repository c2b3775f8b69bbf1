/**
 * The children of `ivsh bench` and `ivsh demo` (src/bench/child.ts) ignore the stop signals their parent
 * ignored at start (src/signals.ts): a script's `ivsh bench &` has SIGINT ignored, and a Ctrl-C meant for
 * its foreground job reaches the whole process group. SIGTERM is different: no terminal sends it to a
 * group, and it is what the parent stops its own children with.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { CLI, FIXTURES } from "./helpers/paths.ts";
import { EventStream, EXIT_BOUND_MS, exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { testUnless } from "./helpers/tools.ts";

const bit = (signal: number) => 1n << BigInt(signal - 1);

// Passed on as ignored, SIGTERM left a child deaf to the SIGTERM its parent stops it with: each arbiter of
// `trap '' TERM; ivsh demo` was killed (SIGKILL) 5 s after it was asked to stop, and an interrupted
// benchmark, which sends SIGTERM alone, left its workers running.
test("started with SIGHUP, SIGINT and SIGTERM ignored: its children ignore SIGHUP and SIGINT, and stop on SIGTERM", async () => {
  const parent = tracked(
    Bun.spawn(
      [
        "sh",
        "-c",
        `trap '' HUP INT TERM; exec "$@"`,
        "sh",
        process.execPath,
        join(FIXTURES, "ignoring-parent.ts"),
      ],
      { stdout: "pipe", stderr: "pipe" },
    ),
  );
  const done = await new EventStream(parent.stdout).next("done", 40_000);
  expect(await exitOrKill(parent, EXIT_BOUND_MS)).toBe(0);
  const ignored = BigInt(String(done.ignored));
  expect({ hup: ignored & bit(1), int: ignored & bit(2), term: ignored & bit(15) }).toEqual({
    hup: bit(1),
    int: bit(2),
    term: 0n,
  });
  expect(done.exit).toBe(128 + 15);
}, 60_000);

/** Why a mount namespace with /bin/sh masked cannot be made here, if it cannot (needs root and unshare). */
const noPrivateMounts =
  Bun.spawnSync(["unshare", "-m", "true"], { stderr: "ignore" }).exitCode === 0
    ? undefined
    : "cannot make a mount namespace (needs root and unshare)";

// A system without a usable /bin/sh (a minimal container running dist/ivsh) under a parent that ignores
// SIGINT: every child was started through /bin/sh, so none could start: the demo and the benchmark failed
// ("Failed to posix_spawn /bin/sh"), and the arbiter's compaction helper never ran, its journal growing.
testUnless(
  noPrivateMounts,
  "started with SIGINT ignored where /bin/sh cannot run: ivsh demo still starts its children",
  async () => {
    // /dev/null over /bin/sh (its target) in a mount namespace of its own: there, it cannot be executed.
    const script = `mount --bind /dev/null /bin/sh && trap '' INT && exec "$@"`;
    const demo = tracked(
      Bun.spawn(
        ["unshare", "-m", "bash", "-c", script, "bash", process.execPath, CLI, "demo", "--size", "4MiB"],
        { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } },
      ),
    );
    const output = Promise.all([new Response(demo.stdout).text(), new Response(demo.stderr).text()]);
    const exit = await exitOrKill(demo, EXIT_BOUND_MS);
    const [stdout, stderr] = await output;
    expect({ exit, stderr }).toEqual({
      exit: 0,
      stderr: expect.not.stringContaining("ERROR"),
    });
    expect(stdout).toContain("both receivers got exactly the original");
  },
  60_000,
);
