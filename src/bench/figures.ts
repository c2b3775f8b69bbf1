/** The figures (charts.ts), drawn from the report's rows: the table's medians, spreads as error bars. */
import { join } from "node:path";
import { formatBytes } from "../units.ts";
import { type BarValue, renderBarChart, renderLineChart } from "./charts.ts";
import { reportSections, writeWhole } from "./output.ts";
import { REPORT_LOCK_PAIRS } from "./plan.ts";
import { MEMCPY_ID, reportTransferSeconds } from "./results.ts";
import { type Summary, spreadOf, summaryOf } from "./stats.ts";
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

/** The median times `scale`, with its spread; undefined when there are no samples. */
function bar(summary: Summary | undefined, scale: number): BarValue | undefined {
  if (!summary) return undefined;
  const spread = spreadOf(summary);
  return { value: summary.median * scale, low: spread.low * scale, high: spread.high * scale };
}

/** A bar chart of one series, the median of rounds, with a bar per category. */
function medianBars(title: string, yLabel: string, categories: string[], values: (BarValue | undefined)[]) {
  return renderBarChart({ title, yLabel, categories, series: [{ label: "median of rounds", values }] });
}

/** A figure drawn from a run's samples and its report's rows, looked up by row id. */
type Figure = (data: SuiteData, summary: (rowId: string) => Summary | undefined) => string;

/** Every figure by its file name, in the order they are written. */
const FIGURES: Record<string, Figure> = {
  "fig3a-block-size.svg": (data, summary) => {
    const memcpy = summary(MEMCPY_ID);
    const points = data.sweep.map((point) => ({
      x: point.block,
      ...(bar(summary(`sweep.${point.block}`), 1 / GB) ?? { value: 0 }),
    }));
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
  },
  "fig3b-methods.svg": (data, summary) => {
    const entries = Object.entries(data.transfers);
    return medianBars(
      `Fig. 3b: ${formatBytes(data.plan.bytes)} between two processes, by method`,
      "GB/s",
      [...entries.map(([id, samples]) => SHORT[id] ?? samples.label), "memcpy"],
      [...entries.map(([id]) => bar(summary(`transfer.${id}`), 1 / GB)), bar(summary(MEMCPY_ID), 1 / GB)],
    );
  },
  "fig4a-locks.svg": (data, summary) => {
    const pairsMs = (method: string) => bar(summary(`lock.${method}`), REPORT_LOCK_PAIRS * 1e-9 * 1e3);
    return medianBars(
      `Fig. 4a: ${REPORT_LOCK_PAIRS} uncontended acquire/release pairs vs a 2 GiB transfer at 4 MiB`,
      "milliseconds",
      ["ivsh lock/unlock", "ivsh tryLock/unlock", "RPC per operation", "2 GiB at 4 MiB blocks"],
      [pairsMs("fast"), pairsMs("try"), pairsMs("rpc"), bar(summaryOf(reportTransferSeconds(data)), 1e3)],
    );
  },
  "fig4a-handoff.svg": (_, summary) => {
    const kinds = ["handoff.parked", "handoff.spin", "floor.one-way", "floor.relay"].map(summary);
    return renderBarChart({
      title: "Fig. 4a: hand-off latency between two processes",
      yLabel: "µs",
      categories: ["ivsh parked", "ivsh spinning", "socket, 1 hop", "socket, 2 hops (relay)"],
      series: [
        { label: "p50 (bar: IQR)", values: kinds.map((kind) => bar(kind, 1e-3)) },
        { label: "p99", values: kinds.map((kind) => kind && { value: kind.p99 * 1e-3 }) },
      ],
    });
  },
  "fig4b-access.svg": (data, summary) =>
    renderBarChart({
      title: "Fig. 4b: memory access bandwidth (1 core)",
      yLabel: "GB/s",
      categories: data.access.map((subject) => subject.label),
      series: (["read", "write"] as const).map((kind) => ({
        label: `sequential ${kind}`,
        values: data.access.map((subject) => bar(summary(`${subject.id}.${kind}`), 1 / GB)),
      })),
    }),
  "fig4b-latency.svg": (data, summary) =>
    medianBars(
      "Fig. 4b: dependent random 8-byte load",
      "ns per load",
      data.access.map((subject) => subject.label),
      data.access.map((subject) => bar(summary(`${subject.id}.latency`), 1)),
    ),
};

/** The figures' file names, in the order they are written: a report names them before they exist. */
export const FIGURE_FILES = Object.keys(FIGURES);

/** Writes every figure into `dir`, each whole or not at all; returns the file names. */
export async function writeFigures(dir: string, data: SuiteData): Promise<string[]> {
  const rows = reportSections(data).flatMap((section) => section.results);
  const summaries = new Map(rows.map((result) => [result.id, result.samples]));
  const summary = (id: string) => summaries.get(id);
  for (const [name, draw] of Object.entries(FIGURES)) await writeWhole(join(dir, name), draw(data, summary));
  return [...FIGURE_FILES];
}
