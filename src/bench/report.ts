/**
 * Results as markdown tables, and the result model every benchmark shares: `id` a stable dotted key, `label`
 * what a reader sees; `unit` a rate (higher is better), a time or a dimensionless ratio, fraction or count;
 * `samples` absent when it could not run (`note` says why); `ratioTo` the row it is shown as a fraction of
 * (100%: as fast, rate or time), by the per-round fractions `ratioSamples` when given (they cancel noise).
 */
import { formatRate } from "../units.ts";
import { type Summary, spreadOf, summaryOf } from "./stats.ts";

export type ResultUnit = "bytes/s" | "s" | "ns" | "ratio" | "fraction" | "count";

export interface BenchResult {
  readonly id: string;
  readonly label: string;
  readonly unit: ResultUnit;
  readonly samples?: Summary;
  readonly note?: string;
  readonly ratioTo?: string;
  /** Per-round value / reference, summarised; see above. */
  readonly ratioSamples?: Summary;
  /** The samples themselves, for machine-readable output. */
  readonly values?: readonly number[];
}

/** One table of results: a figure of the report, or a part of one. */
export interface Section {
  readonly id: string;
  readonly title: string;
  /** How it was measured, in a sentence or two, printed above the table. */
  readonly about: string;
  readonly results: BenchResult[];
}

export interface Column {
  readonly title: string;
  /** Numbers are right-aligned so their digits line up. */
  readonly align?: "left" | "right";
}

/** A markdown table whose columns are padded to equal width, so it also reads well as plain text. */
export function renderTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const cells = rows.map((row) => columns.map((_, index) => escapeCell(row[index] ?? "")));
  const widths = columns.map((column, index) =>
    Math.max(3, column.title.length, ...cells.map((row) => row[index]!.length)),
  );
  const line = (values: readonly string[]) =>
    `| ${values.map((value, index) => pad(value, widths[index]!, columns[index]!.align)).join(" | ")} |`;
  const rule = columns.map((column, index) => {
    const dashes = "-".repeat(widths[index]!);
    return column.align === "right" ? `${dashes.slice(1)}:` : dashes;
  });
  const header = line(columns.map((column) => column.title));
  return [header, `| ${rule.join(" | ")} |`, ...cells.map(line)].join("\n");
}

function escapeCell(value: string): string {
  return value.replaceAll("|", "\\|").replaceAll("\n", " ");
}

function pad(value: string, width: number, align: Column["align"]): string {
  return align === "right" ? value.padStart(width) : value.padEnd(width);
}

/** Units whose p99 says something: latencies and durations. */
function isTime(unit: ResultUnit): boolean {
  return unit === "s" || unit === "ns";
}

/** Below this many samples a p99 is only the maximum interpolated: left out. */
const MIN_SAMPLES_FOR_P99 = 100;

export function formatValue(value: number, unit: ResultUnit): string {
  switch (unit) {
    case "bytes/s":
      return formatRate(value);
    case "s":
      return formatSeconds(value);
    case "ns":
      return formatSeconds(value / 1e9);
    case "ratio":
      return `${Number(value.toPrecision(3))}×`;
    case "fraction":
      // Three significant digits, but never an exponent: 1120%, not 1.12e+3%.
      return Math.abs(value) >= 10 ? `${(value * 100).toFixed(0)}%` : `${(value * 100).toPrecision(3)}%`;
    case "count":
      return String(Number(value.toPrecision(4)));
  }
}

/** Three significant digits in the largest unit that keeps the number at least 1. */
export function formatSeconds(seconds: number): string {
  const units: [number, string][] = [
    [1, "s"],
    [1e-3, "ms"],
    [1e-6, "µs"],
    [1e-9, "ns"],
  ];
  const [scale, name] = units.find(([size]) => Math.abs(seconds) >= size) ?? [1e-9, "ns"];
  return `${Number((seconds / scale).toPrecision(3))} ${name}`;
}

/** The median as a fraction of the reference's, or undefined when they cannot be compared. */
export function ratioOf(result: BenchResult, reference: BenchResult | undefined): number | undefined {
  if (!result.samples || !reference?.samples || reference.unit !== result.unit) return undefined;
  return result.unit === "bytes/s"
    ? result.samples.median / reference.samples.median
    : reference.samples.median / result.samples.median;
}

function formatRatio(ratio: number | undefined): string {
  if (ratio === undefined) return "";
  return ratio >= 10 ? `${ratio.toFixed(1)}×` : `${(ratio * 100).toPrecision(3)}%`;
}

/** A row per result: median, spread, p99 of times with enough samples, count, its reference's fraction. */
export function renderResults(
  results: readonly BenchResult[],
  /** Where `ratioTo` ids are looked up: a section's table may refer to a result shown in another. */
  references: readonly BenchResult[] = results,
): string {
  const byId = new Map([...references, ...results].map((result) => [result.id, result]));
  const withTimes = results.some((result) => isTime(result.unit));
  const columns: Column[] = [
    { title: "Benchmark" },
    { title: "Median", align: "right" },
    { title: "Spread", align: "right" },
    ...(withTimes ? [{ title: "p99", align: "right" as const }] : []),
    { title: "Samples", align: "right" },
    { title: "vs reference", align: "right" },
    { title: "Note" },
  ];
  const rows = results.map((result) => {
    const reference = result.ratioTo === undefined ? undefined : byId.get(result.ratioTo);
    const ratio = formatRatio(result.ratioSamples?.median ?? ratioOf(result, reference));
    return [
      result.label,
      ...summaryCells(result, withTimes),
      ratio && reference ? `${ratio} of ${reference.label}` : "",
      result.note ?? "",
    ];
  });
  return renderTable(columns, rows);
}

function summaryCells(result: BenchResult, withTimes: boolean): string[] {
  const samples = result.samples;
  const empty = withTimes ? 4 : 3;
  if (!samples) return ["n/a", ...Array<string>(empty - 1).fill("")];
  const spread = spreadOf(samples);
  const show = (value: number) => formatValue(value, result.unit);
  const cells = [show(samples.median), `${show(spread.low)} – ${show(spread.high)}`];
  if (withTimes)
    cells.push(isTime(result.unit) && samples.count >= MIN_SAMPLES_FOR_P99 ? show(samples.p99) : "");
  cells.push(String(samples.count));
  return cells;
}

/** A row of samples (kept for the JSON), compared to the row `ratio.to`, by `ratio.perRound` when given. */
export function row(
  id: string,
  label: string,
  unit: ResultUnit,
  values: readonly number[],
  note?: string,
  ratio?: { to: string; perRound?: readonly number[] },
): BenchResult {
  const compared = ratio && {
    ratioTo: ratio.to,
    ...(ratio.perRound ? { ratioSamples: summaryOf(ratio.perRound) } : {}),
  };
  return { id, label, unit, samples: summaryOf(values), values, ...compared, ...(note ? { note } : {}) };
}

/** [label, unit, samples]: a row of a table keyed by row id. */
export type RowSpec = readonly [string, ResultUnit, readonly number[]];

/** Rows keyed by id, notes by id; `summaryOnly` ones (all: `true`) without samples (raw has them). */
export function rows(
  table: Record<string, RowSpec>,
  notes: Record<string, string> = {},
  summaryOnly: readonly string[] | true = [],
): BenchResult[] {
  return Object.entries(table).map(([id, spec]) => {
    const result = row(id, ...spec, notes[id]);
    if (summaryOnly !== true && !summaryOnly.includes(id)) return result;
    const { values: _inRaw, ...summary } = result;
    return summary;
  });
}
