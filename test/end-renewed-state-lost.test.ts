/**
 * An end waiting for its peer whose arbiter was restarted without its state (killed, its --state and region
 * files gone: a fresh `ivsh host`) finds its session unknown on its resume, and goes on waiting on a new
 * session, as one stopped past its lease does. Found in review of session 36: it said "this end was stopped
 * longer than the arbiter's 5 s lease, which ended its session" though this end had never been stopped; the
 * notice now says what happened: the arbiter no longer knew its session.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, exitOrKill } from "./helpers/processes.ts";
import { guestSaying, idleEnd } from "./helpers/transfer.ts";

const LEASE_MS = 5000;
/** A liveness bound: a restart, a reconnect, a transfer of one chunk. Never a speed. */
const WITHIN_MS = 3 * LEASE_MS + 15_000;

let paths: TestPaths;
let arbiter: ArbiterProcess;
beforeEach(async () => {
  paths = testPaths("revw36-state-lost");
  arbiter = await ArbiterProcess.start(paths, { size: "4MiB", lease: `${LEASE_MS}ms` });
});
afterEach(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("recv waiting for a sender, its arbiter restarted without its state: waits again on a new session, not saying it was stopped", async () => {
  const receiver = idleEnd(paths, "recv", "state-lost", "60s");
  await eventually(async () => receiver.said.text.includes("waiting for a sender"), WITHIN_MS, "the wait");
  await arbiter.kill9();
  rmSync(paths.state, { force: true });
  rmSync(paths.region, { force: true });
  await arbiter.restart();
  await eventually(async () => receiver.said.text.includes("new session"), WITHIN_MS, "the renewal");
  const input = join(paths.dir, "input");
  writeFileSync(input, "hello\n");
  const sender = guestSaying(paths, ["send", input, "--channel", "state-lost", "--timeout", "60s"]);
  const exits = [await exitOrKill(sender.proc, WITHIN_MS), await exitOrKill(receiver.proc, WITHIN_MS)];
  expect({ exits, said: receiver.said.text }).toMatchObject({
    exits: [0, 0],
    // Before: "this end was stopped longer than the arbiter's 5 s lease, which ended its session; ...".
    said: expect.stringContaining(
      "the arbiter no longer knew this end's session (restarted without its state, or its lease ran out meanwhile)",
    ),
  });
  expect(receiver.said.text).not.toContain("this end was stopped");
}, 90_000);
