/**
 * An end that saw its arbiter killed (-9) while it waited, then was stopped (Ctrl-Z, SIGSTOP) while the
 * arbiter was restarted and its --timeout passed, gave up as it continued: "the arbiter went away ... and
 * did not come back in the 10.3 s it was waited for (--timeout 8 s)", though the arbiter was back and the
 * reconnect that takes milliseconds was never tried (this end was stopped all the while). It reconnects
 * now (its session restored) and says no sender showed up. Real processes throughout.
 */
import { expect, test } from "bun:test";
import { eventually, exitOrKill } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { idleEnd } from "./helpers/transfer.ts";

/** Long: the restarted arbiter gives the stopped end's session a lease to resume in, even on a slow machine. */
const suite = sharedArbiter("rvlo14-back-while-stopped", { lease: "20s" });
const TIMEOUT_MS = 8000;
/** Past the limit, the stop: longer than a busy machine delays a timer (peer-wait.ts LATE_CHECK_MS, 5 s). */
const STOPPED_PAST_LIMIT_MS = 6000;
/** Liveness bound, nothing tighter. */
const WITHIN_MS = 30_000;

/**
 * A recv on `channel` that saw its arbiter killed as it waited, then was stopped past its --timeout while
 * `whileStopped` ran: once continued, it exits 1, and what it said is returned.
 */
async function stoppedPastLimit(channel: string, whileStopped: () => Promise<void>): Promise<string> {
  const { proc, said } = idleEnd(suite.paths, "recv", channel, `${TIMEOUT_MS}ms`);
  try {
    await eventually(async () => said.text.includes("waiting for a sender"), WITHIN_MS, "recv waiting");
    const waiting = performance.now();
    await suite.arbiter.kill9();
    // Seen gone while it waited, before its --timeout: it says it waits for the arbiter to come back.
    await eventually(async () => said.text.includes("to come back"), WITHIN_MS, "recv seeing the drop");
    proc.kill("SIGSTOP");
    try {
      await whileStopped();
      await Bun.sleep(Math.max(0, waiting + TIMEOUT_MS + STOPPED_PAST_LIMIT_MS - performance.now()));
    } finally {
      proc.kill("SIGCONT");
    }
    expect(await exitOrKill(proc, WITHIN_MS)).toBe(1);
    return said.text;
  } finally {
    proc.kill("SIGKILL");
  }
}

test("recv that saw its arbiter go, then was stopped while it came back and its --timeout passed, reconnects and says no sender showed up", async () => {
  const channel = "back-while-stopped";
  const said = await stoppedPastLimit(channel, () => suite.arbiter.restart());
  // Before: "... since the arbiter went away (connection lost) and did not come back in the 9.9 s it was
  // waited for (--timeout 8 s)", the arbiter back all the while.
  expect(said).toContain(
    `ERROR Failed to receive on channel '${channel}' since no sender showed up within 8 s (--timeout)`,
  );
  expect(said).not.toContain("did not come back");
}, 60_000);

test("recv that saw its arbiter go, then was stopped past its --timeout with the arbiter still gone, gives up naming the arbiter", async () => {
  // The arbiter stays killed (the next test's beforeEach revives it). Its reconnect's chance is bounded
  // (half the lease), not the reconnect timeout's 30 s.
  const said = await stoppedPastLimit("gone-while-stopped", async () => {});
  expect(said).toMatch(
    /ERROR Failed to receive on channel 'gone-while-stopped' since the arbiter went away \(connection lost\) and did not come back in the [\d.]+ s it was waited for \(--timeout 8 s\)/,
  );
}, 60_000);
