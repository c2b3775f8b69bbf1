/**
 * An end itself stopped (Ctrl-Z, SIGSTOP) past half its lease, whose --timeout passed meanwhile, says no
 * peer showed up: the arbiter answered all along. It said "the arbiter stopped answering (is it stopped or
 * frozen? ...)", for the end had heard nothing while it was stopped itself, and sent the user to look at a
 * healthy arbiter. Real processes throughout.
 */
import { expect, test } from "bun:test";
import { eventually, exitOrKill } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { idleEnd } from "./helpers/transfer.ts";

/**
 * The end is stopped for FROZEN_MS: over half the lease (its own freeze is then noticed), well short of
 * the whole lease (the arbiter would expire its session, another story). Its --timeout passes while it is
 * stopped, seconds after it is seen waiting, so a loaded machine still stops it first. After the stop the end
 * has 8 s (the lease less the stop) to be heard before its session would expire: a 10 s lease and a 7 s stop
 * left it 1.3–2.3 s once the arbiter's sweeps are counted, narrow on a loaded machine.
 */
const LEASE = "20s";
const FROZEN_MS = 12_000;
const TIMEOUT = "4s";
/** Liveness bounds, nothing tighter. */
const WITHIN_MS = 30_000;

const suite = sharedArbiter("end-stopped", { lease: LEASE });

const end = (role: "send" | "recv") => idleEnd(suite.paths, role, `end-stopped-${role}`, TIMEOUT);

for (const [role, peer] of [
  ["recv", "sender"],
  ["send", "receiver"],
] as const)
  test(`${role} stopped past half its lease while its --timeout passed says no ${peer} showed up, not that the arbiter stopped answering`, async () => {
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
      const action = role === "send" ? "send on" : "receive on";
      expect(said.text).toContain(
        `ERROR Failed to ${action} channel 'end-stopped-${role}' since no ${peer} showed up within 4 s (--timeout)`,
      );
      expect(said.text).not.toContain("stopped answering");
    } finally {
      proc.kill("SIGKILL");
    }
  }, 60_000);
