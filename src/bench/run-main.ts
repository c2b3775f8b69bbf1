/**
 * Development entry that runs every building block of `ivsh bench` that needs no arbiter, prints the
 * table and writes the charts, until the CLI's `bench` command exists:
 *
 *   bun src/bench/run-main.ts [--bytes 2GiB] [--repeats 3] [--out bench-out]
 *
 * It doubles as the example of wiring measurements to results, table and charts.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { formatBytes, parseSize } from "../units.ts";
import { measureAccess } from "./access.ts";
import { measureStreamBaselines, sourceWorkerCommand } from "./baselines.ts";
import { formatBlockSize, renderBarChart, renderLineChart, writeChart } from "./charts.ts";
import { measureMemcpy, measureMemcpyInCache } from "./memcpy.ts";
import { anonymousMapping, fileMapping, type Mapping, MiB, withMapping } from "./memory.ts";
import { accessResults, type BenchResult, memcpyResult, renderResults, streamResult } from "./report.ts";
import { spreadOf } from "./stats.ts";

const { values } = parseArgs({
  options: {
    bytes: { type: "string", default: "2GiB" },
    repeats: { type: "string", default: "3" },
    out: { type: "string", default: "bench-out" },
  },
});
const bytes = parseSize(values.bytes, "--bytes");
const repeats = Number(values.repeats);
const GB = 1e9;

const large = measureMemcpy({ repeats: 5 });
const inCache = measureMemcpyInCache({ repeats: 5 });
const results: BenchResult[] = [
  memcpyResult("memcpy.large", `memcpy ${formatBlockSize(large.bytes)}`, large),
  memcpyResult("memcpy.cache", `memcpy ${formatBlockSize(inCache.bytes)} (in cache)`, inCache),
];

const mappings: [string, () => Mapping][] = [
  ["anonymous", () => anonymousMapping(256 * MiB)],
  ["/dev/shm file", () => fileMapping(`/dev/shm/ivsh-bench-${process.pid}`, 256 * MiB)],
  ["file in tmpdir", () => fileMapping(join(tmpdir(), `ivsh-bench-${process.pid}`), 256 * MiB)],
];
const access = mappings.map(([label, open]) => {
  const measurement = withMapping(open(), (mapping) => measureAccess(mapping.address, mapping.length));
  results.push(...accessResults(`access.${label}`, label, measurement, "memcpy.large"));
  return { label, measurement };
});

const streams = await measureStreamBaselines({ bytes, repeats, workerCommand: sourceWorkerCommand() });
results.push(...streams.map((stream) => streamResult(stream, "memcpy.large")));

process.stdout.write(`Streams of ${formatBytes(bytes)}, ${repeats} runs each\n\n${renderResults(results)}\n`);

const blockSizes = Array.from({ length: 15 }, (_, index) => 4096 * 2 ** index);
const perBlock = blockSizes.map((block) => ({
  block,
  rate: measureMemcpyInCache({ bytes: block, repeats: 3, bytesPerSample: 256 * MiB }).rate,
}));
await writeChart(
  join(values.out, "memcpy-by-block.svg"),
  renderLineChart({
    title: "memcpy bandwidth by buffer size (1 core)",
    xLabel: "buffer size",
    yLabel: "GB/s",
    series: [
      {
        label: "memcpy",
        points: perBlock.map(({ block, rate }) => ({
          x: block,
          y: rate.median / GB,
          low: spreadOf(rate).low / GB,
          high: spreadOf(rate).high / GB,
        })),
      },
    ],
    references: [{ label: `memcpy ${formatBlockSize(large.bytes)}`, y: large.rate.median / GB }],
  }),
);
await writeChart(
  join(values.out, "access.svg"),
  renderBarChart({
    title: "Memory access bandwidth (Fig. 4b)",
    yLabel: "GB/s",
    categories: access.map(({ label }) => label),
    series: (["read", "write"] as const).map((kind) => ({
      label: `sequential ${kind}`,
      values: access.map(({ measurement }) => {
        const spread = spreadOf(measurement[kind]);
        return { value: measurement[kind].median / GB, low: spread.low / GB, high: spread.high / GB };
      }),
    })),
  }),
);
await writeChart(
  join(values.out, "streams.svg"),
  renderBarChart({
    title: `Streaming ${formatBytes(bytes)} between two processes (Fig. 3b baselines)`,
    yLabel: "GB/s",
    categories: ["memcpy", ...streams.map((stream) => stream.label)],
    series: [
      {
        label: "median of runs",
        values: [large.rate, ...streams.map((stream) => stream.rate)].map((rate) =>
          rate
            ? { value: rate.median / GB, low: spreadOf(rate).low / GB, high: spreadOf(rate).high / GB }
            : undefined,
        ),
      },
    ],
  }),
);
process.stdout.write(`\nCharts in ${values.out}/: memcpy-by-block.svg, access.svg, streams.svg\n`);
