/**
 * An end waiting for its peer whose arbiter is killed (-9) partway through its --timeout gives up at the
 * limit, saying the arbiter did not come back: it said "did not come back within 8 s (--timeout)", the
 * whole limit, though the arbiter had been gone only for its last part (the wait for it was shorter). The
 * message now says how long the arbiter was waited for, and the limit. Real processes throughout.
 */
import { expect, test } from "bun:test";
import { eventually, exitOrKill } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { idleEnd } from "./helpers/transfer.ts";

/** Long: the end gives up at its --timeout, not at a lease's expiry. */
const suite = sharedArbiter("lo14-arbiter-gone-told", { lease: "60s" });
/** Liveness bound, nothing tighter. */
const WITHIN_MS = 30_000;

/** A duration as formatDuration writes it ("850 ms", "4.012 s"), in milliseconds. */
function millis(text: string): number {
  const [, value = "", unit] = /^([\d.]+) (ms|s)$/.exec(text) ?? [];
  return Number(value) * (unit === "s" ? 1000 : 1);
}

test("recv --timeout whose arbiter is killed partway says how long it waited for the arbiter, not the whole limit", async () => {
  const { proc, said } = idleEnd(suite.paths, "recv", "gone-told", "8s");
  try {
    await eventually(async () => said.text.includes("waiting for a sender"), WITHIN_MS, "recv waiting");
    await Bun.sleep(3000); // a part of the limit passes with the arbiter there
    const killed = performance.now();
    await suite.arbiter.kill9(); // the next test's beforeEach revives it
    expect(await exitOrKill(proc, WITHIN_MS)).toBe(1);
    const overMs = performance.now() - killed;
    // Before: "... since the arbiter went away (connection lost) and did not come back within 8 s (--timeout)".
    const told =
      /went away \(connection lost\) and did not come back in the (.+?) it was waited for \(--timeout 8 s\)/.exec(
        said.text,
      );
    expect(told?.[0] ?? said.text).toStartWith("went away");
    // What it says it waited is what happened: no more than from the kill to its exit.
    const waited = millis(told?.[1] ?? "");
    expect(waited).toBeGreaterThan(0);
    expect(waited).toBeLessThanOrEqual(overMs);
  } finally {
    proc.kill("SIGKILL");
  }
}, 60_000);
