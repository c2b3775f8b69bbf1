/**
 * Preloaded into every bun process of a run, it writes what the arbiter's (`ivsh host`) JavaScript heap
 * holds every 3 s: its size, its object count and the 25 most numerous object types, to
 * /tmp/heap-census-PID.txt. The census in docs/bench/scale.md (158 MiB, 115 000 Maps, then 81–84 MiB) came from
 *
 *   rm -f /tmp/heap-census-*; BUN_OPTIONS="--preload $PWD/scripts/experiments/heap-census.ts" \
 *     bun src/cli.ts bench --scale --seconds 8; cat /tmp/heap-census-*.txt
 */
import { heapStats } from "bun:jsc";
import { writeFileSync } from "node:fs";

if (process.argv.includes("host")) {
  const started = Date.now();
  setInterval(() => {
    const stats = heapStats();
    const top = Object.entries(stats.objectTypeCounts)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 25);
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    const heading = `${seconds} s: heap ${(stats.heapSize / 2 ** 20).toFixed(1)} MiB, ${stats.objectCount} objects`;
    writeFileSync(
      `/tmp/heap-census-${process.pid}.txt`,
      `${heading}\n${top.map(([type, count]) => `${type} ${count}`).join("\n")}\n`,
    );
  }, 3000).unref();
}
