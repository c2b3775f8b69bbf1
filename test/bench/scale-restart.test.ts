/**
 * `ivsh bench --scale`'s restart figure ("restart after kill -9 ≤ 2 s", docs/bench/scale.md: "from starting
 * the killed arbiter to its first answer") against a real arbiter: it is timed from the new arbiter's
 * start, not from before the old one's SIGKILL, whose exit takes longer the more memory the old one held.
 */
import { expect, test } from "bun:test";
import { BenchArbiter } from "../../src/bench/arbiter.ts";
import { timeRestart } from "../../src/bench/scale.ts";

/** What a slow death (a large arbiter's address space torn down) adds before the new arbiter starts. */
const SLOW_DEATH_MS = 1500;

test("the restart is timed from the new arbiter's start, not from the old one's kill", async () => {
  await BenchArbiter.with({ label: "restart test", blockBytes: 4096 }, async (arbiter) => {
    const restart = arbiter.killAndRestart.bind(arbiter);
    let restartBegan = 0;
    // The old arbiter takes SLOW_DEATH_MS to die: what follows it is the restart.
    arbiter.killAndRestart = async () => {
      await Bun.sleep(SLOW_DEATH_MS);
      restartBegan = performance.now();
      return restart();
    };
    const result = await timeRestart(arbiter, []);
    const sinceRestartBegan = (performance.now() - restartBegan) / 1000;
    expect(result.epochs[1]).not.toBe(result.epochs[0]);
    expect(result.answeredSeconds).toBeGreaterThan(0);
    // Before the fix the answer time included the slow death: over SLOW_DEATH_MS more than this span.
    expect(result.answeredSeconds).toBeLessThanOrEqual(sinceRestartBegan);
    expect(result.resumedSeconds).toBeLessThanOrEqual(sinceRestartBegan);
  });
}, 60_000);
