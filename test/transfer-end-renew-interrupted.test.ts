/**
 * An end's renewed session being connected (src/commands/_end-session.ts renew) to an arbiter that does
 * not answer: the end was stopped past its lease, which ended its session, and the arbiter stopped as
 * its word of that (lease expired) passed a relay, so the new session's hello goes unanswered. Ctrl-C
 * (SIGINT) still ends the end at once, as on its first connect (the renewal's connect takes the command's
 * abort signal too), and its --timeout still bounds the wait (what is left of it, not connect()'s 30 s).
 * Real processes: the end, the arbiter, a relay in this process.
 */
import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { hookingRelay, stopSweeps } from "./helpers/hello-relay.ts";
import { eventually, exitOrKill, livenessBoundMs } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { idleEnd } from "./helpers/transfer.ts";

const LEASE_MS = 1000;
const suite = sharedArbiter("end-renew-int", { lease: `${LEASE_MS}ms` });
const WITHIN_MS = livenessBoundMs(LEASE_MS);
let relay: ReturnType<typeof hookingRelay> | undefined;
afterAll(() => void relay?.listener.stop(true));

/** Continues the arbiter the relay stopped; one gone meanwhile is said to be, not left as kill's ESRCH. */
function resumeArbiter(): void {
  try {
    process.kill(suite.arbiter.pid, "SIGCONT");
  } catch (error) {
    throw new Error(`the arbiter (pid ${suite.arbiter.pid}), stopped by this test, was gone: ${error}`);
  }
}

/**
 * recv (its --timeout `timeout`) on `channel` through a relay, stopped past its lease, continued with the
 * arbiter stopped by the relay as its lease's expiry passed (the arbiter's "lease expired" frames, sent
 * unasked): returned once it says it waits again. Armed only once the status report no longer named the
 * session, the relay had sometimes passed every expiry frame on already (one run in ten under load), and
 * the answer it hooked was the renewal's hello: that session made before the arbiter stopped, a SIGINT
 * ended the wait for a sender, not the connect. Now armed before, for those words.
 */
async function renewingUnanswered(channel: string, timeout: string) {
  const relaySocket = join(suite.dir, `${channel}.sock`);
  relay?.listener.stop(true);
  relay = hookingRelay(suite.socket, relaySocket);
  const { state } = relay;
  const stopped = { now: false };
  const { proc, said } = idleEnd({ ...suite.paths, socket: relaySocket }, "recv", channel, timeout);
  await eventually(async () => said.text.includes("waiting for a sender"), WITHIN_MS, "recv waiting");
  Object.assign(state, { armed: true, always: false, drop: false });
  state.hooks = (sent) => sent.includes("(lease expired)");
  state.onAnswer = () => {
    stopSweeps(suite.arbiter.pid);
    stopped.now = true;
  };
  process.kill(proc.pid, "SIGSTOP");
  let before = "";
  try {
    await eventually(async () => stopped.now || proc.exitCode !== null, WITHIN_MS, "recv's session expiring");
    expect({ exited: proc.exitCode, said: said.text }).toEqual({ exited: null, said: said.text });
    // A renewal said before (its lease passed while starved, not stopped) is not this one.
    before = said.text;
  } finally {
    proc.kill("SIGCONT"); // no throw if it has ended: the failure above is the one to tell
  }
  const renewed = () => said.text.slice(before.length).includes("waits again on a new session");
  await eventually(async () => renewed(), WITHIN_MS, "renewing");
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
    resumeArbiter();
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
    resumeArbiter();
  }
}, 60_000);
