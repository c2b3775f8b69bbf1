/**
 * The end-to-end rows (end-to-end.ts) as a section of the report, with ratios computed within each round:
 * how many times faster ivsh was than a baseline (its time ÷ ivsh's), or how many times longer ivsh took
 * than a floor (ivsh's time ÷ its time). The goals judge these rows.
 */
import { formatBytes } from "../units.ts";
import type { BenchResult, Section } from "./report.ts";
import { row, summaryOf } from "./report.ts";
import { perRound } from "./results.ts";
import type { SuiteData } from "./suite-data.ts";

function secondsOf(data: SuiteData, method: string): number[] {
  const samples = data.endToEnd[method];
  return samples && !samples.unavailable ? samples.seconds : [];
}

/**
 * `speedup.*`: the other's time ÷ ivsh's (above 1: ivsh was faster); `slowdown.*`: ivsh's time ÷ the
 * other's (above 1: ivsh took longer). As [id, label, ivsh's method, the other method].
 */
const RATIOS: readonly (readonly [string, string, string, string])[] = [
  ["speedup.null-socat", "ivsh ÷ socat, FILE → /dev/null (times faster)", "ivsh-null", "socat-null"],
  ["speedup.null-cat-socat", "ivsh ÷ cat FILE | socat (times faster)", "ivsh-null", "cat-socat-null"],
  ["slowdown.null-dd", "ivsh's time ÷ one dd read of FILE", "ivsh-null", "dd"],
  ["speedup.file-socat", "ivsh ÷ socat, FILE → NEW_FILE (times faster)", "ivsh-file", "socat-file"],
  ["slowdown.small-socat", "ivsh's time ÷ socat's, 1 KiB FILE → NEW_FILE", "ivsh-small", "socat-small"],
];

function ratioValues(data: SuiteData, id: string, ivsh: string, other: string): number[] {
  const [ivshSeconds, otherSeconds] = [secondsOf(data, ivsh), secondsOf(data, other)];
  return id.startsWith("speedup.")
    ? perRound(otherSeconds, ivshSeconds)
    : perRound(ivshSeconds, otherSeconds);
}

export function endToEndSection(data: SuiteData): Section {
  const results: BenchResult[] = Object.entries(data.endToEnd).map(([id, samples]) => {
    if (samples.unavailable)
      return { id: `e2e.${id}`, label: samples.label, unit: "s", note: samples.unavailable };
    const summary = summaryOf(samples.seconds);
    const rate = summary ? `, ${(samples.bytes / summary.median / 1e9).toPrecision(3)} GB/s` : "";
    return row(`e2e.${id}`, samples.label, "s", samples.seconds, `${formatBytes(samples.bytes)}${rate}`);
  });
  for (const [id, label, ivsh, other] of RATIOS)
    results.push(row(`e2e.${id}`, label, "ratio", ratioValues(data, id, ivsh, other)));
  return {
    id: "end-to-end",
    title: `End to end: ${formatBytes(data.plan.bytes)} and 1 KiB files, whole processes as users run them`,
    about:
      "Both processes started together and timed until both exited (socat's receiver first, as it must " +
      "listen; the wait counts), a random file in /dev/shm as the source, NEW_FILE a new file in /dev/shm " +
      "(removed after each run; before each, a file of its size is written and removed untimed, so every " +
      "method gets memory the kernel just freed, not pages the hypervisor took back), /dev/null discarding. Process start, " +
      "connecting, the ring, reading the file and the end handshake all count; the 1 KiB rows are the " +
      `median of 5 runs per round. ivsh: ${data.endToEndBinary || "the binary"}. Ratios within each round.`,
    results,
  };
}
