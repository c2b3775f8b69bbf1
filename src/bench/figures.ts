/**
 * The report's figures as SVG files (charts.ts), drawn from a run's samples: medians with their spread
 * (IQR, or min–max for few rounds) as error bars.
 */
import { join } from "node:path";
import { formatBytes } from "../units.ts";
import { type BarValue, renderBarChart, renderLineChart, writeChart } from "./charts.ts";
import { REPORT_LOCK_PAIRS } from "./plan.ts";
import { summaryOf } from "./report.ts";
import { rates, reportTransferSeconds } from "./results.ts";
import { spreadOf } from "./stats.ts";
import type { SuiteData } from "./suite-data.ts";

const GB = 1e9;

/** Short names for the x axis, where the table's labels would overlap. */
const SHORT: Record<string, string> = {
  ivsh: "ivsh /dev/shm",
  "ivsh-setup": "ivsh + setup",
  "ivsh-disk": "ivsh disk file",
  "unix-bun": "Unix (Bun)",
  "unix-socat": "Unix (socat)",
  "tcp-bun": "TCP (Bun)",
  "vm-guest-to-host": "VM guest→host",
  "vm-host-to-guest": "VM host→guest",
};

/** The median of `values` times `scale`, with its spread; undefined when there are no samples. */
function bar(values: readonly number[], scale: number): BarValue | undefined {
  const summary = summaryOf(values);
  if (!summary) return undefined;
  const spread = spreadOf(summary);
  return { value: summary.median * scale, low: spread.low * scale, high: spread.high * scale };
}

/** A bar chart of one series, the median of rounds, with a bar per category. */
function medianBars(title: string, yLabel: string, categories: string[], values: (BarValue | undefined)[]) {
  return renderBarChart({ title, yLabel, categories, series: [{ label: "median of rounds", values }] });
}

function sweepChart(data: SuiteData): string {
  const memcpy = summaryOf(data.memcpyRates);
  const points = data.sweep.map((point) => {
    const value = bar(rates({ bytes: data.plan.bytes, seconds: point.seconds }), 1 / GB);
    return { x: point.block, y: value?.value ?? 0, low: value?.low, high: value?.high };
  });
  return renderLineChart({
    title: `Fig. 3a: ${formatBytes(data.plan.bytes)} through ivsh by block size (sender and receiver processes)`,
    xLabel: "block (chunk) size",
    yLabel: "GB/s",
    series: [{ label: "ivsh, median of rounds", points }],
    references: [
      ...(memcpy ? [{ label: "memcpy 256 MiB (1 core)", y: memcpy.median / GB }] : []),
      { label: "memcpy 1 MiB in cache", y: data.memcpyInCache.rate.median / GB },
    ],
  });
}

function transferChart(data: SuiteData): string {
  const entries = Object.entries(data.transfers);
  return medianBars(
    `Fig. 3b: ${formatBytes(data.plan.bytes)} between two processes, by method`,
    "GB/s",
    [...entries.map(([id, samples]) => SHORT[id] ?? samples.label), "memcpy"],
    [
      ...entries.map(([, samples]) => bar(samples.unavailable ? [] : rates(samples), 1 / GB)),
      bar(data.memcpyRates, 1 / GB),
    ],
  );
}

function lockChart(data: SuiteData): string {
  const pairsMs = (values: number[]) => bar(values, REPORT_LOCK_PAIRS * 1e-9 * 1e3);
  return medianBars(
    `Fig. 4a: ${REPORT_LOCK_PAIRS} uncontended acquire/release pairs vs a 2 GiB transfer at 4 MiB`,
    "milliseconds",
    ["ivsh lock/unlock", "ivsh tryLock/unlock", "RPC per operation", "2 GiB at 4 MiB blocks"],
    [
      pairsMs(data.locks.fast),
      pairsMs(data.locks.try),
      pairsMs(data.locks.rpc),
      bar(reportTransferSeconds(data), 1e3),
    ],
  );
}

function handoffChart(data: SuiteData): string {
  const { parked, spin, floor } = data.handoff;
  const kinds = [parked.latenciesNs, spin.latenciesNs, floor.oneWayNs, floor.relayNs];
  const p99s = kinds.map(summaryOf).map((summary) => summary && { value: summary.p99 * 1e-3 });
  return renderBarChart({
    title: "Fig. 4a: hand-off latency between two processes",
    yLabel: "µs",
    categories: ["ivsh parked", "ivsh spinning", "socket, 1 hop", "socket, 2 hops (relay)"],
    series: [
      { label: "p50 (bar: IQR)", values: kinds.map((values) => bar(values, 1e-3)) },
      { label: "p99", values: p99s },
    ],
  });
}

function accessCharts(data: SuiteData): [string, string] {
  const categories = data.access.map((subject) => subject.label);
  const bandwidth = renderBarChart({
    title: "Fig. 4b: memory access bandwidth (1 core)",
    yLabel: "GB/s",
    categories,
    series: (["read", "write"] as const).map((kind) => ({
      label: `sequential ${kind}`,
      values: data.access.map((subject) => bar(subject[kind], 1 / GB)),
    })),
  });
  const latencies = data.access.map((subject) => bar(subject.latency, 1));
  const latency = medianBars("Fig. 4b: dependent random 8-byte load", "ns per load", categories, latencies);
  return [bandwidth, latency];
}

/** The figures' file names, in the order they are written: a report names them before they exist. */
export const FIGURE_FILES = [
  "fig3a-block-size.svg",
  "fig3b-methods.svg",
  "fig4a-locks.svg",
  "fig4a-handoff.svg",
  "fig4b-access.svg",
  "fig4b-latency.svg",
] as const;

/** Writes every figure into `dir`; returns the file names. */
export async function writeFigures(dir: string, data: SuiteData): Promise<string[]> {
  const [bandwidth, latency] = accessCharts(data);
  const svgs = [
    sweepChart(data),
    transferChart(data),
    lockChart(data),
    handoffChart(data),
    bandwidth,
    latency,
  ];
  for (const [index, name] of FIGURE_FILES.entries()) await writeChart(join(dir, name), svgs[index]!);
  return [...FIGURE_FILES];
}
