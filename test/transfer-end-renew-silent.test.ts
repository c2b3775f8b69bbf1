/**
 * An end stopped (Ctrl-Z) past its lease while it waited for its peer takes a new session once continued
 * (fg), within what is left of its --timeout. With the arbiter stopped meanwhile (a frozen host), that
 * connection is accepted and never answered: the end gave up naming what was left of its --timeout ("did
 * not answer within 13 s" for --timeout 20s), a limit the user never gave. Real processes throughout.
 */
import { expect, test } from "bun:test";
import { fetchStatus } from "../src/guest/inspect.ts";
import { eventually, exitOrKill, livenessBoundMs } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { idleEnd } from "./helpers/transfer.ts";

const LEASE_MS = 1000;
const suite = sharedArbiter("end-renew-silent", { lease: `${LEASE_MS}ms` });
/** A liveness bound, nothing tighter. */
const WITHIN_MS = livenessBoundMs(LEASE_MS);
/** Seconds beyond the test's steps (the expiry, a stop), and far short of the test's own limit. */
const TIMEOUT = "20s";

async function hasSession(pid: number): Promise<boolean> {
  const { report } = await fetchStatus({ unix: suite.socket });
  return report.clients.some((client) => client.pid === pid);
}

test("recv whose renewal after a stop past its lease meets a stopped arbiter names its --timeout", async () => {
  const channel = "renew-silent";
  const { proc, said } = idleEnd(suite.paths, "recv", channel, TIMEOUT);
  let arbiterStopped = false;
  try {
    await eventually(async () => said.text.includes("waiting for a sender"), WITHIN_MS, "recv waiting");
    process.kill(proc.pid, "SIGSTOP");
    try {
      await eventually(
        async () => !(await hasSession(proc.pid)),
        WITHIN_MS,
        "the stopped end's session expiring",
      );
      process.kill(suite.arbiter.pid, "SIGSTOP");
      arbiterStopped = true;
    } finally {
      process.kill(proc.pid, "SIGCONT");
    }
    expect(await exitOrKill(proc, 40_000)).toBe(1);
    expect(said.text).toContain("waits again on a new session");
    // Before: "Failed to greet the arbiter at ... since it accepted the connection but did not answer within 17 s".
    expect(said.text).toContain(
      `ERROR Failed to receive on channel '${channel}' since the arbiter stopped answering (is it stopped or ` +
        `frozen? resume or restart it), so no sender could reach this end within 20 s (--timeout)`,
    );
  } finally {
    if (arbiterStopped) process.kill(suite.arbiter.pid, "SIGCONT");
    proc.kill("SIGKILL");
  }
}, 90_000);
