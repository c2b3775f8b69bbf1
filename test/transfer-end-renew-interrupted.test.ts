/**
 * Ctrl-C (SIGINT) while an end's renewed session is being connected (src/commands/_end-session.ts renew):
 * the end was stopped past its lease, its resume was refused (session expired), and the arbiter stopped
 * as that refusal passed a relay, so the new session's hello goes unanswered. The end still ends at once,
 * as it does on its first connect: the renewal's connect takes the command's abort signal too.
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

test("recv interrupted (SIGINT) while its renewed session's hello goes unanswered ends promptly", async () => {
  const channel = "renew-interrupted";
  const relaySocket = join(suite.dir, "relay.sock");
  relay = hookingRelay(suite.socket, relaySocket);
  const { state } = relay;
  let stopped = false;
  // Far beyond the bound below: the renewal's connect waits this long unless the signal ends it.
  const { proc, said } = idleEnd({ ...suite.paths, socket: relaySocket }, "recv", channel, "300s");
  try {
    await eventually(async () => said.text.includes("waiting for a sender"), WITHIN_MS, "recv waiting");
    process.kill(proc.pid, "SIGSTOP");
    try {
      await eventually(async () => !(await hasSession(proc.pid)), WITHIN_MS, "recv's session expiring");
      // The next answer through the relay (the resume's refusal) stops the arbiter before it passes on.
      Object.assign(state, { armed: true, always: false, drop: false });
      state.onAnswer = () => {
        stopSweeps(suite.arbiter.pid);
        stopped = true;
      };
    } finally {
      process.kill(proc.pid, "SIGCONT");
    }
    await eventually(async () => said.text.includes("waits again on a new session"), WITHIN_MS, "renewing");
    process.kill(proc.pid, "SIGINT");
    // With the renewal's connect deaf to the signal: still running at the bound (killed, "late").
    const exit = await exitOrKill(proc, WITHIN_MS);
    const interrupted = "Failed to connect to the arbiter since it was interrupted by SIGINT";
    expect({ exit, stopped, said: said.text }).toEqual({
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
