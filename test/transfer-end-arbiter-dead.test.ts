/**
 * An end waiting for its peer whose arbiter is killed for good (-9, not restarted) while the end runs
 * gives up at its --timeout, naming the arbiter: the user's bound. With a long lease it waited half a
 * lease from the drop instead (30 s past a 3 s --timeout with a 60 s lease), the grace meant for an end
 * that was itself stopped while the arbiter restarted (test/transfer-end-arbiter-restarted.test.ts).
 * Real processes throughout.
 */
import { expect, test } from "bun:test";
import { eventually, exitOrKill } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { idleEnd } from "./helpers/transfer.ts";

/** Long, so half of it is far beyond the bound below: the wait that was wrongly added. */
const LEASE = "60s";
const TIMEOUT = "3s";
/**
 * Liveness bound on the exit, generous for a loaded machine (--timeout and its 20 ms rechecks), and
 * shorter than half the lease.
 */
const WITHIN_MS = 20_000;
const suite = sharedArbiter("end-arbiter-dead", { lease: LEASE });

for (const [role, peer] of [
  ["recv", "sender"],
  ["send", "receiver"],
] as const)
  test(`${role} whose arbiter is killed for good while it waits gives up at its --timeout`, async () => {
    const channel = `dead-${role}`;
    const { proc, said } = idleEnd(suite.paths, role, channel, TIMEOUT);
    try {
      await eventually(async () => said.text.includes(`waiting for a ${peer}`), WITHIN_MS, `${role} waiting`);
      await suite.arbiter.kill9(); // the next test's beforeEach revives it
      // Before: 'late' (it gave up half a lease, 30 s, after the arbiter went).
      expect(await exitOrKill(proc, WITHIN_MS)).toBe(1);
      const action = role === "send" ? "send on" : "receive on";
      expect(said.text).toMatch(
        new RegExp(
          `ERROR Failed to ${action} channel '${channel}' since the arbiter went away \\(connection lost\\) and did not come back in the [\\d.]+ m?s it was waited for \\(--timeout 3 s\\)`,
        ),
      );
    } finally {
      proc.kill("SIGKILL");
    }
  }, 60_000);
