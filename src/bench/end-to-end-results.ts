/**
 * The end-to-end rows (end-to-end.ts) as a section of the report, and the ratios its goals judge, each
 * computed within a round: how many times faster ivsh was than a baseline (its time ÷ ivsh's), or how
 * many times longer ivsh took than a floor (ivsh's time ÷ its time).
 */
import { formatBytes } from "../units.ts";
import type { BenchResult, Section } from "./report.ts";
import { perRound, summaryOf } from "./results.ts";
import type { SuiteData } from "./suite-data.ts";

function secondsOf(data: SuiteData, method: string): number[] {
  const samples = data.endToEnd[method];
  return samples && !samples.unavailable ? samples.seconds : [];
}

/** Per round: the baseline's time ÷ ivsh's (above 1: ivsh was faster). */
export function endToEndSpeedup(data: SuiteData, ivsh: string, baseline: string): number[] {
  return perRound(secondsOf(data, baseline), secondsOf(data, ivsh));
}

/** Per round: ivsh's time ÷ the floor's (above 1: ivsh took longer). */
export function endToEndSlowdown(data: SuiteData, ivsh: string, floor: string): number[] {
  return perRound(secondsOf(data, ivsh), secondsOf(data, floor));
}

interface Ratio {
  id: string;
  label: string;
  /** speedup: the other's time ÷ ivsh's; slowdown: ivsh's time ÷ the other's. */
  kind: "speedup" | "slowdown";
  ivsh: string;
  other: string;
}

const RATIOS: Ratio[] = [
  {
    id: "speedup.null-socat",
    label: "ivsh ÷ socat, FILE → /dev/null (times faster)",
    kind: "speedup",
    ivsh: "ivsh-null",
    other: "socat-null",
  },
  {
    id: "speedup.null-cat-socat",
    label: "ivsh ÷ cat FILE | socat (times faster)",
    kind: "speedup",
    ivsh: "ivsh-null",
    other: "cat-socat-null",
  },
  {
    id: "slowdown.null-dd",
    label: "ivsh's time ÷ one dd read of FILE",
    kind: "slowdown",
    ivsh: "ivsh-null",
    other: "dd",
  },
  {
    id: "speedup.file-socat",
    label: "ivsh ÷ socat, FILE → NEW_FILE (times faster)",
    kind: "speedup",
    ivsh: "ivsh-file",
    other: "socat-file",
  },
  {
    id: "slowdown.small-socat",
    label: "ivsh's time ÷ socat's, 1 KiB FILE → NEW_FILE",
    kind: "slowdown",
    ivsh: "ivsh-small",
    other: "socat-small",
  },
];

function ratioValues(data: SuiteData, ratio: Ratio): number[] {
  return ratio.kind === "speedup"
    ? endToEndSpeedup(data, ratio.ivsh, ratio.other)
    : endToEndSlowdown(data, ratio.ivsh, ratio.other);
}

export function endToEndSection(data: SuiteData): Section {
  const results: BenchResult[] = Object.entries(data.endToEnd).map(([id, samples]) => {
    if (samples.unavailable)
      return { id: `e2e.${id}`, label: samples.label, unit: "s", note: samples.unavailable };
    const summary = summaryOf(samples.seconds);
    const rate = summary ? `${(samples.bytes / summary.median / 1e9).toPrecision(3)} GB/s` : "";
    return {
      id: `e2e.${id}`,
      label: samples.label,
      unit: "s",
      samples: summary,
      values: samples.seconds,
      note: `${formatBytes(samples.bytes)}${rate ? `, ${rate}` : ""}`,
    };
  });
  for (const ratio of RATIOS) {
    const values = ratioValues(data, ratio);
    results.push({
      id: `e2e.${ratio.id}`,
      label: ratio.label,
      unit: "ratio",
      samples: summaryOf(values),
      values,
    });
  }
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
