/**
 * A journal was written beside its path and renamed there, and only then opened again and locked: for that
 * moment its path led to a journal no arbiter held. A second arbiter starting then was not refused, and an
 * arbiter's keeper writing its journal again then found no holder and wrote over the other's (or reopened
 * the other's file, failed to lock it, said nothing, and appended its records into it). Now the journal is
 * locked before it takes its path. A process of its own writes its journal again and again while this one
 * looks: each time the path leads to the same file before and after a look at /proc/locks, that file must
 * be held.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { flockHolderPid } from "../src/holders.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, spawnFixture } from "./helpers/processes.ts";

let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("journal-claim-window");
});
afterAll(() => paths?.cleanup());

test("a journal written again is never at its path unheld", async () => {
  const done = join(paths.dir, "done");
  const writer = spawnFixture("journal-rewriter", { socket: "", state: paths.state, rewrites: 1500, done });
  try {
    await writer.events.next("ready");
    let [looks, unheld] = [0, 0];
    // Bounded by the writer's end (its marker), or its death: a generous bound, not a timing assumption.
    const giveUpAt = Date.now() + EXIT_BOUND_MS;
    while (!existsSync(done) && Date.now() < giveUpAt) {
      const before = identity(paths.state);
      const holder = flockHolderPid(paths.state);
      if (before === undefined || before !== identity(paths.state)) continue;
      looks++;
      if (holder === undefined) unheld++;
    }
    expect(existsSync(done)).toBe(true);
    console.log(`looked ${looks} times while the journal was written again 1500 times`);
    expect(looks).toBeGreaterThan(0);
    expect(unheld).toBe(0);
  } finally {
    writer.proc.kill("SIGKILL");
    await writer.proc.exited;
  }
}, 60_000);

/** The file at `path`: its inode and change time (an inode number freed by one rewrite is reused by the next). */
function identity(path: string): string | undefined {
  const found = statSync(path, { bigint: true, throwIfNoEntry: false });
  return found && `${found.dev}:${found.ino}:${found.ctimeNs}`;
}
