/**
 * Two arbiters started at the same moment on one new --state (each with a region of its own, so the
 * region's lock does not part them): one serves and keeps its journal whole, the other refuses saying
 * why. A start that failed removed the journal the other had just written (its own start had found none),
 * and the other's clean-up of leftovers removed the first's snapshot before its rename, which was then
 * told as "the directory does not exist".
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, exitOrKill, spawnBun } from "./helpers/processes.ts";

let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("journal-two-starts");
});
afterAll(() => paths?.cleanup());

/** How long both are given to start and settle: past the arbiter's sweep, which rewrites a removed journal. */
const SETTLE_MS = 3000;

test("two arbiters started at once on one new --state: one serves with its journal intact, the other refuses", async () => {
  for (let round = 0; round < 6; round++) {
    const state = join(paths.dir, `${round}.state`);
    const hosts = [1, 2].map((which) =>
      spawnBun([
        ...[CLI, "host", "--region", join(paths.shmDir, `${round}-${which}.region`)],
        ...["--socket", join(paths.dir, `${round}-${which}.sock`), "--state", state],
        ...["--size", "1MiB", "--block-size", "4KiB", "--slots", "16"],
      ]),
    );
    await Bun.sleep(SETTLE_MS);
    const running = hosts.filter((host) => host.proc.exitCode === null);
    for (const host of running) host.proc.kill("SIGTERM");
    const codes = await Promise.all(hosts.map((host) => exitOrKill(host.proc, EXIT_BOUND_MS)));
    const stderrs = await Promise.all(hosts.map((host) => host.stderr));
    const context = `round ${round}:\n${stderrs.join("\n")}`;
    expect(`${context}\nserving: ${running.length}`).toEndWith("serving: 1");
    const served = hosts.indexOf(running[0]!);
    const refused = stderrs[1 - served]!;
    expect(`${context}\nexit ${codes[1 - served]}`).toEndWith("exit 1");
    expect(refused).toContain(`${state}`);
    expect(refused).not.toContain("does not exist");
    // The one serving never lost its journal, and it is the one the file holds.
    expect(stderrs[served]).not.toContain("removed or replaced");
    expect(existsSync(state)).toBe(true);
    expect(readFileSync(state, "utf8")).toContain(`${round}-${served + 1}.region`);
  }
}, 120_000);
