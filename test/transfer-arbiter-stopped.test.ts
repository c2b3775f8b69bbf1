/**
 * An end whose --timeout passes while its arbiter is stopped (SIGSTOP, a frozen host) gives up naming the
 * arbiter, not its peer: no peer can reach it through an arbiter that answers nothing. It said "no sender
 * showed up" (or "no receiver"), which sends the user to the wrong program. Real processes throughout.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { DEFAULT_RECONNECT_TIMEOUT_MS } from "../src/guest/connect-options.ts";
import { hookingRelay, stopSweeps } from "./helpers/hello-relay.ts";
import { eventually, exitOrKill } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { idleEnd } from "./helpers/transfer.ts";

/** The shortest lease: the arbiter counts as silent after half of it. The --timeout leaves the test
 * seconds to stop the arbiter once the end waits, on a loaded machine too. */
const LEASE = "1s";
const TIMEOUT = "8s";
/** A liveness bound, nothing tighter. */
const WITHIN_MS = 30_000;
/**
 * How long an end may take to give up once the arbiter is stopped: its --timeout, and many seconds of
 * slack, yet short of the reconnect timeout, at which any client gives up on a silent arbiter anyway.
 */
const BEFORE_SILENCE_ENDS_MS = DEFAULT_RECONNECT_TIMEOUT_MS - 5_000;

const suite = sharedArbiter("arbiter-stopped", { lease: LEASE });

const end = (role: "send" | "recv") => idleEnd(suite.paths, role, `stopped-${role}`, TIMEOUT);

for (const [role, peer] of [
  ["recv", "sender"],
  ["send", "receiver"],
] as const)
  test(`${role} whose --timeout passes while the arbiter is stopped says the arbiter stopped answering, not that no ${peer} showed up`, async () => {
    const { proc, said } = end(role);
    try {
      await eventually(async () => said.text.includes(`waiting for a ${peer}`), WITHIN_MS, `${role} waiting`);
      process.kill(suite.arbiter.pid, "SIGSTOP");
      let exited: number | "late";
      try {
        // While it is still stopped: a sender's channel release waited for it (up to the 30 s reconnect
        // timeout), its message unsaid, however short its --timeout.
        exited = await exitOrKill(proc, BEFORE_SILENCE_ENDS_MS);
      } finally {
        process.kill(suite.arbiter.pid, "SIGCONT");
      }
      expect(exited).toBe(1);
      const action = role === "send" ? "send on" : "receive on";
      expect(said.text).toContain(
        `ERROR Failed to ${action} channel 'stopped-${role}' since the arbiter stopped answering (is it stopped ` +
          `or frozen? resume or restart it), so no ${peer} could reach this end within 8 s (--timeout)`,
      );
      expect(said.text).not.toContain("showed up");
    } finally {
      proc.kill("SIGKILL");
    }
  }, 60_000);

test("send whose arbiter stops after the hello, before it answers the ring request: gives up at its --timeout naming the arbiter", async () => {
  // The sender's peer is not known until its ring is set up (unknownUntilTold), so its limit waits for the
  // ring; an arbiter silent meanwhile answers the ring request never, and the sender must give up on it
  // then, not wait on a ring that cannot come until the reconnect timeout. The relay stops the arbiter as
  // the hello's answer passes (stopSweeps waits for its state T), before the ring is asked for.
  const relayed = join(suite.dir, "hello-then-stopped.sock");
  const relay = hookingRelay(suite.socket, relayed);
  let stopped = false;
  relay.state.onAnswer = () => {
    stopSweeps(suite.arbiter.pid);
    stopped = true;
  };
  [relay.state.armed, relay.state.drop] = [true, false];
  const { proc, said } = idleEnd({ ...suite.paths, socket: relayed }, "send", "stopped-at-ring", "2s");
  try {
    let exited: number | "late";
    try {
      exited = await exitOrKill(proc, BEFORE_SILENCE_ENDS_MS);
    } finally {
      process.kill(suite.arbiter.pid, "SIGCONT");
    }
    expect(stopped).toBe(true); // after its answer to the hello
    expect(exited).toBe(1);
    expect(said.text).toContain(
      "ERROR Failed to send on channel 'stopped-at-ring' since the arbiter stopped answering (is it stopped or " +
        "frozen? resume or restart it), so no receiver could reach this end within 2 s (--timeout)",
    );
  } finally {
    proc.kill("SIGKILL");
    relay.listener.stop(true);
  }
}, 60_000);
