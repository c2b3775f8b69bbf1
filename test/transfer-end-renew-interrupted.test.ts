/**
 * An end's renewed session being connected (src/commands/_end-session.ts renew) to an arbiter that does
 * not answer: the end was stopped past its lease, its resume was refused (session expired), and the
 * arbiter stopped as that refusal passed a relay, so the new session's hello goes unanswered. Ctrl-C
 * (SIGINT) still ends the end at once, as on its first connect (the renewal's connect takes the command's
 * abort signal too), and its --timeout still bounds the wait (what is left of it, not connect()'s 30 s).
 * Real processes: the end, the arbiter, a relay in this process.
 */
import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { fetchStatus } from "../src/guest/inspect.ts";
import { hookingRelay, stopSweeps } from "./helpers/hello-relay.ts";
import { eventually, exitOrKill, livenessBoundMs } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { idleEnd } from "./helpers/transfer.ts";

const LEASE_MS = 1000;
const suite = sharedArbiter("end-renew-int", { lease: `${LEASE_MS}ms` });
const WITHIN_MS = livenessBoundMs(LEASE_MS);
let relay: ReturnType<typeof hookingRelay> | undefined;
afterAll(() => void relay?.listener.stop(true));

async function hasSession(pid: number): Promise<boolean> {
  const { report } = await fetchStatus({ unix: suite.socket });
  return report.clients.some((client) => client.pid === pid);
}

/**
 * recv (its --timeout `timeout`) on `channel` through a relay, stopped past its lease, continued with the
 * relay set to stop the arbiter as the resume's refusal passes: returned once it says it waits again.
 */
async function renewingUnanswered(channel: string, timeout: string) {
  const relaySocket = join(suite.dir, `${channel}.sock`);
  relay?.listener.stop(true);
  relay = hookingRelay(suite.socket, relaySocket);
  const { state } = relay;
  const stopped = { now: false };
  const { proc, said } = idleEnd({ ...suite.paths, socket: relaySocket }, "recv", channel, timeout);
  await eventually(async () => said.text.includes("waiting for a sender"), WITHIN_MS, "recv waiting");
  process.kill(proc.pid, "SIGSTOP");
  try {
    await eventually(async () => !(await hasSession(proc.pid)), WITHIN_MS, "recv's session expiring");
    // The next answer through the relay (the resume's refusal) stops the arbiter before it passes on.
    Object.assign(state, { armed: true, always: false, drop: false });
    state.onAnswer = () => {
      stopSweeps(suite.arbiter.pid);
      stopped.now = true;
    };
  } finally {
    process.kill(proc.pid, "SIGCONT");
  }
  await eventually(async () => said.text.includes("waits again on a new session"), WITHIN_MS, "renewing");
  return { proc, said, stopped };
}

test("recv interrupted (SIGINT) while its renewed session's hello goes unanswered ends promptly", async () => {
  // Far beyond the bound below: the renewal's connect waits this long unless the signal ends it.
  const { proc, said, stopped } = await renewingUnanswered("renew-interrupted", "300s");
  try {
    process.kill(proc.pid, "SIGINT");
    // With the renewal's connect deaf to the signal: still running at the bound (killed, "late").
    const exit = await exitOrKill(proc, WITHIN_MS);
    const interrupted = "Failed to connect to the arbiter since it was interrupted by SIGINT";
    expect({ exit, stopped: stopped.now, said: said.text }).toEqual({
      exit: 130,
      stopped: true,
      said: expect.stringContaining(interrupted),
    });
    expect(said.text).not.toContain("lease expired");
  } finally {
    proc.kill("SIGKILL");
    process.kill(suite.arbiter.pid, "SIGCONT");
  }
}, 60_000);

test("recv whose renewed session's hello goes unanswered gives up within what is left of its --timeout", async () => {
  const { proc, said, stopped } = await renewingUnanswered("renew-timeout", "8s");
  try {
    // With connect()'s own 30 s in place of what is left of the 8 s: still running at the bound ("late").
    const exit = await exitOrKill(proc, WITHIN_MS);
    expect({ exit, stopped: stopped.now, said: said.text }).toEqual({
      exit: 1,
      stopped: true,
      said: expect.stringContaining("so no sender could reach this end within 8 s (--timeout)"),
    });
  } finally {
    proc.kill("SIGKILL");
    process.kill(suite.arbiter.pid, "SIGCONT");
  }
}, 60_000);
