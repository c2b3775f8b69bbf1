/**
 * The children of `ivsh bench` and `ivsh demo` (src/bench/child.ts) ignore the stop signals their parent
 * ignored at start (src/signals.ts): a script's `ivsh bench &` has SIGINT ignored, and a Ctrl-C meant for
 * its foreground job reaches the whole process group. SIGTERM is different: no terminal sends it to a
 * group, and it is what the parent stops its own children with.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { FIXTURES } from "./helpers/paths.ts";
import { EventStream, EXIT_BOUND_MS, exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";

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
