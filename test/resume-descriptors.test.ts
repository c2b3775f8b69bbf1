/**
 * A session resuming (its arbiter killed with -9 and started again at once) in a process with no descriptor
 * free: every try fails for want of a socket (EMFILE, which Bun reports as ECONNREFUSED), the arbiter there
 * all along. The resume gave up with "it went away and did not come back (start `ivsh host` again)", sending
 * the user to start an arbiter that was running; it must name the open-file limit, as connect() does.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, spawnFixture } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
beforeAll(async () => {
  paths = testPaths("resume-descriptors");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("a resume out of descriptors gives up naming the open-file limit, not an arbiter to start", async () => {
  const fixture = spawnFixture("resume-no-descriptors", { socket: paths.socket, region: paths.region });
  const { limit } = (await fixture.events.next("limited")) as { limit: number };
  await arbiter.kill9();
  await arbiter.restart();
  const lost = (await fixture.events.next("lost")) as { message: string };
  expect(await fixture.exit()).toBe(0);
  expect(lost.message).toContain(
    `this process has as many files open as its limit allows (EMFILE, ulimit -n ${limit})`,
  );
  expect(lost.message).toContain(
    "again since every try until the reconnect timeout (2 s) ran out failed in this process: no socket could be made",
  );
  expect(lost.message).not.toContain("start `ivsh host` again");
}, 60_000);
