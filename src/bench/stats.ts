/** Summaries of repeated samples: the median the headline (robust to an outlier), the spread its trust. */
import { failure } from "../errors.ts";

export type Summary = ReturnType<typeof summarize>;

/** Below this many samples the quartiles are mostly interpolation: the spread is min..max. */
const MIN_SAMPLES_FOR_IQR = 5;

/** Quantile `q` of sorted values, numpy's and R's default ("type 7"), as a reader would recompute it. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw failure("InvalidArgument", "compute a quantile", "there are no samples");
  if (!(q >= 0 && q <= 1)) throw failure("InvalidArgument", `compute quantile ${q}`, "it is not within 0..1");
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const lower = sorted[below]!;
  const upper = sorted[Math.min(below + 1, sorted.length - 1)]!;
  return lower + (upper - lower) * (position - below);
}

export function summarize(samples: readonly number[]) {
  if (samples.length === 0) throw failure("InvalidArgument", "summarize samples", "there are none");
  if (samples.some((sample) => !Number.isFinite(sample)))
    throw failure("InvalidArgument", "summarize samples", "one of them is not a finite number");
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, value) => sum + value, 0) / sorted.length;
  const median = quantile(sorted, 0.5);
  const q1 = quantile(sorted, 0.25);
  const q3 = quantile(sorted, 0.75);
  return {
    count: sorted.length,
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
    mean,
    // Under both names: tables say "median" and latency plots say "p50".
    median,
    p50: median,
    p99: quantile(sorted, 0.99),
    // 25th and 75th percentiles; q3 - q1 is the interquartile range.
    q1,
    q3,
    iqr: q3 - q1,
    // Sample standard deviation (n - 1); 0 for a single sample.
    stddev: standardDeviation(sorted, mean),
  };
}

/** Summary of samples, or undefined when there are none (the method did not run). */
export function summaryOf(values: readonly number[]): Summary | undefined {
  return values.length > 0 ? summarize(values) : undefined;
}

function standardDeviation(values: readonly number[], mean: number): number {
  if (values.length < 2) return 0;
  const squares = values.reduce((sum, value) => sum + (value - mean) ** 2, 0);
  return Math.sqrt(squares / (values.length - 1));
}

/** The middle sample (the upper of the middle two of an even count): one that occurred, not interpolated. */
export function middleSample(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1] ?? Number.NaN;
}

/** Throughput samples from durations, per run before summarising (the median of rates is not bytes/mean). */
export function summarizeRates(bytes: number, seconds: readonly number[]): Summary {
  if (seconds.some((value) => !(value > 0)))
    throw failure("InvalidArgument", "compute a rate", "a duration is not positive");
  return summarize(seconds.map((value) => bytes / value));
}

/** The spread drawn and shown: the IQR with enough samples, min..max otherwise. */
export function spreadOf(summary: Summary) {
  return summary.count >= MIN_SAMPLES_FOR_IQR
    ? { low: summary.q1, high: summary.q3, kind: "iqr" as const }
    : { low: summary.min, high: summary.max, kind: "range" as const };
}
