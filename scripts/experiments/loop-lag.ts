/**
 * Preloaded into every bun process of a run, it reports the event-loop stalls of the arbiter (`ivsh host`):
 * a 1 ms timer, and once a second how many of its ticks came more than 1 ms late, their sum and the
 * longest, appended to /tmp/loop-lag.log. The figures in docs/bench/scale.md came from
 *
 *   rm -f /tmp/loop-lag.log; BUN_OPTIONS="--preload $PWD/scripts/experiments/loop-lag.ts" \
 *     bun src/cli.ts bench --scale --seconds 15; cat /tmp/loop-lag.log
 */
import { appendFileSync } from "node:fs";

if (process.argv.includes("host")) {
  let last = performance.now();
  let gaps: number[] = [];
  const started = performance.now();
  setInterval(() => {
    const now = performance.now();
    const gap = now - last - 1;
    last = now;
    if (gap > 1) gaps.push(gap);
  }, 1).unref();
  setInterval(() => {
    gaps.sort((a, b) => b - a);
    const seconds = ((performance.now() - started) / 1000).toFixed(0);
    const sum = gaps.reduce((total, gap) => total + gap, 0).toFixed(0);
    const longest = gaps.slice(0, 6).map((gap) => gap.toFixed(1));
    appendFileSync(
      "/tmp/loop-lag.log",
      `${seconds}s: ${gaps.length} ticks >1 ms late, ${sum} ms in all, >5 ms: ${gaps.filter((gap) => gap > 5).length}, longest ${longest.join(", ")}\n`,
    );
    gaps = [];
  }, 1000).unref();
}
