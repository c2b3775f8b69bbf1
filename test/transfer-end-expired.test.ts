/**
 * An end itself stopped (Ctrl-Z, SIGSTOP) past its whole lease, whose --timeout passed meanwhile, says its
 * session expired: the arbiter released what it held. A sender reading an idle stdin said "the arbiter
 * went away (connection lost) and did not come back within 5 s (--timeout)", blaming a healthy arbiter:
 * its wait, resumed, first awaited its lease's confirmation (ArbiterSilence), then found the expired
 * session's connection down. Real processes throughout.
 */
import { expect, test } from "bun:test";
import { eventually, exitOrKill } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { idleEnd } from "./helpers/transfer.ts";

/**
 * The end is stopped for FROZEN_MS, many leases: the arbiter expires its session meanwhile, however busy
 * the machine (an end starved past its lease before the stop expires the same way). Its --timeout passes
 * while it is stopped, seconds after it is seen waiting, so a loaded machine still stops it first.
 */
const LEASE = "2s";
const FROZEN_MS = 10_000;
const TIMEOUT = "5s";
/** Liveness bounds, nothing tighter. */
const WITHIN_MS = 30_000;

const suite = sharedArbiter("end-expired", { lease: LEASE });

const end = (role: "send" | "recv") => idleEnd(suite.paths, role, `end-expired-${role}`, TIMEOUT);

for (const [role, peer] of [
  ["recv", "sender"],
  ["send", "receiver"],
] as const)
  test(`${role} stopped past its lease while its --timeout passed says its lease expired, not that the arbiter went away`, async () => {
    const { proc, said } = end(role);
    try {
      await eventually(async () => said.text.includes(`waiting for a ${peer}`), WITHIN_MS, `${role} waiting`);
      proc.kill("SIGSTOP");
      try {
        await Bun.sleep(FROZEN_MS);
      } finally {
        proc.kill("SIGCONT");
      }
      expect(await exitOrKill(proc, WITHIN_MS)).toBe(1);
      expect(said.text).toContain(`no heartbeat arrived for 2000 ms (lease expired)`);
      expect(said.text).not.toContain("went away");
      expect(said.text).not.toContain("stopped answering");
      expect(said.text).not.toContain("showed up");
    } finally {
      proc.kill("SIGKILL");
    }
  }, 60_000);
