/** The goals, each judged on a row's median (table and verdict agree): reported, never asserted (noise). */

import type { BenchPlan } from "./plan.ts";
import { type BenchResult, formatValue, renderTable } from "./report.ts";

export interface Goal {
  readonly id: string;
  readonly goal: string;
  /** The measured median, formatted; "n/a" when it could not be measured. */
  readonly measured: string;
  readonly value?: number;
  readonly target: number;
  readonly pass?: boolean;
  /** For a miss: how far off, e.g. "needs 1.4× more" or "2.1× over". */
  readonly gap?: string;
}

/** By goal id: [the goal, the row it judges, at least (≥) or at most (≤), target]. */
type GoalSpecs = Record<string, readonly [string, string, "≥" | "≤", number]>;

function goalSpecs(plan: BenchPlan): GoalSpecs {
  const size = plan.quick ? "transfer (--quick size)" : "2 GiB transfer";
  // Issue 12's: the command a user types, whole processes, against what they would type instead.
  const file = plan.quick ? "--quick-sized" : "2 GiB";
  return {
    "transfer-vs-unix-bun": [`${size} ≥ 3× Unix socket (Bun)`, "ratio.ivsh-unix-bun", "≥", 3],
    "transfer-vs-unix-socat": [`${size} ≥ 3× Unix socket (socat)`, "ratio.ivsh-unix-socat", "≥", 3],
    "transfer-vs-memcpy": [`${size} ≥ 50% of memcpy bandwidth`, "ratio.ivsh-memcpy", "≥", 0.5],
    "uncontended-lock": ["uncontended acquire+release ≤ 0.2 µs", "lock.fast", "≤", 200],
    "handoff-p50": ["hand-off p50 ≤ 30 µs (waiter parked)", "handoff.parked", "≤", 30_000],
    "lock-share": ["lock cost < 1% of a 2 GiB transfer at 4 MiB blocks", "lock-share.fast", "≤", 0.01],
    "loops-vs-rpc": ["report's loops ≥ 2× faster than RPC per operation", "loops.speedup-rpc", "≥", 2],
    "loops-vs-socket": ["report's loops no slower than a Unix-socket stream", "loops.speedup-socket", "≥", 1],
    "pingpong-vs-socket": ["CondVar ping-pong ≤ 0.5× a Unix-socket round trip", "pingpong.ratio", "≤", 0.5],
    "wake-vs-socket": ["parked wake-up p50 ≤ 1.5× one Unix-socket wake-up", "wake.ratio", "≤", 1.5],
    "e2e-null-vs-socat": [
      `${file} file → /dev/null, whole processes: ivsh ≥ 1.8× socat`,
      "e2e.speedup.null-socat",
      "≥",
      1.8,
    ],
    "e2e-null-vs-dd": [
      `${file} file → /dev/null: ivsh within 1.5× one dd read of the file`,
      "e2e.slowdown.null-dd",
      "≤",
      1.5,
    ],
    "e2e-file-vs-socat": [`${file} file → new file: ivsh ≥ 1.8× socat`, "e2e.speedup.file-socat", "≥", 1.8],
    "e2e-small-vs-socat": [
      "1 KiB file end to end: ivsh within 2× socat's time",
      "e2e.slowdown.small-socat",
      "≤",
      2,
    ],
  };
}

function judge(
  id: string,
  [goal, , direction, target]: GoalSpecs[string],
  result: BenchResult | undefined,
): Goal {
  if (!result?.samples) return { id, goal, measured: "n/a", target };
  const value = result.samples.median;
  const pass = direction === "≥" ? value >= target : value <= target;
  const factor = direction === "≥" ? target / value : value / target;
  const gap = pass
    ? undefined
    : direction === "≥"
      ? `needs ${factor.toFixed(2)}× more`
      : `${factor.toFixed(2)}× over`;
  // As the row shows it, but a ratio with its trailing zeros: 3.00× next to a target of 3×.
  const measured = result.unit === "ratio" ? `${value.toPrecision(3)}×` : formatValue(value, result.unit);
  return { id, goal, measured, value, target, pass, ...(gap ? { gap } : {}) };
}

/** Every goal, judged on the report's rows (`results`: all sections'). */
export function evaluateGoals(plan: BenchPlan, results: readonly BenchResult[]): Goal[] {
  const byId = new Map(results.map((result) => [result.id, result]));
  return Object.entries(goalSpecs(plan)).map(([id, spec]) => judge(id, spec, byId.get(spec[1])));
}

export function renderGoals(goals: readonly Goal[]): string {
  return renderTable(
    [{ title: "Goal" }, { title: "Measured (median)", align: "right" }, { title: "Result" }],
    goals.map((goal) => [
      goal.goal,
      goal.measured,
      goal.pass === undefined ? "not measured" : goal.pass ? "PASS" : `MISS (${goal.gap})`,
    ]),
  );
}
