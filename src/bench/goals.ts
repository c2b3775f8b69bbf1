/**
 * The goals, held against the measured medians. They are reported (PASS or MISS with the gap),
 * never asserted: on a shared 2-core VM a goal can be missed by noise, and the table shows by how much.
 */
import { loopSpeedups, pingPongRatios } from "./condvar-results.ts";
import { endToEndSlowdown, endToEndSpeedup } from "./end-to-end-results.ts";
import { formatSeconds, renderTable } from "./report.ts";
import { ivshVersus, lockShares, perRound, rates } from "./results.ts";
import { summarize } from "./stats.ts";
import type { SuiteData } from "./suite-data.ts";

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

type Direction = "at-least" | "at-most";

function judge(
  id: string,
  goal: string,
  values: readonly number[],
  target: number,
  direction: Direction,
  format: (value: number) => string,
): Goal {
  if (values.length === 0) return { id, goal, measured: "n/a", target };
  const value = summarize(values).median;
  const pass = direction === "at-least" ? value >= target : value <= target;
  const factor = direction === "at-least" ? target / value : value / target;
  const gap = pass
    ? undefined
    : direction === "at-least"
      ? `needs ${factor.toFixed(2)}× more`
      : `${factor.toFixed(2)}× over`;
  return { id, goal, measured: format(value), value, target, pass, ...(gap ? { gap } : {}) };
}

const times = (value: number) => `${value.toPrecision(3)}×`;
const percent = (value: number) => `${(value * 100).toPrecision(3)}%`;
const nanoseconds = (value: number) => formatSeconds(value / 1e9);

export function evaluateGoals(data: SuiteData): Goal[] {
  const size = data.plan.quick ? "transfer (--quick size)" : "2 GiB transfer";
  const goals: Goal[] = [
    judge(
      "transfer-vs-unix-bun",
      `${size} ≥ 3× Unix socket (Bun)`,
      ivshVersus(data, "unix-bun"),
      3,
      "at-least",
      times,
    ),
    judge(
      "transfer-vs-unix-socat",
      `${size} ≥ 3× Unix socket (socat)`,
      ivshVersus(data, "unix-socat"),
      3,
      "at-least",
      times,
    ),
    judge(
      "transfer-vs-memcpy",
      `${size} ≥ 50% of memcpy bandwidth`,
      perRound(rates(data.transfers.ivsh!), data.memcpyRates),
      0.5,
      "at-least",
      percent,
    ),
    judge(
      "uncontended-lock",
      "uncontended acquire+release ≤ 0.2 µs",
      data.locks.fast,
      200,
      "at-most",
      nanoseconds,
    ),
    judge(
      "handoff-p50",
      "hand-off p50 ≤ 30 µs (waiter parked)",
      data.handoff.parked.latenciesNs,
      30_000,
      "at-most",
      nanoseconds,
    ),
    judge(
      "lock-share",
      "lock cost < 1% of a 2 GiB transfer at 4 MiB blocks",
      lockShares(data, "fast"),
      0.01,
      "at-most",
      percent,
    ),
    judge(
      "loops-vs-rpc",
      "report's loops ≥ 2× faster than RPC per operation",
      loopSpeedups(data, "rpc"),
      2,
      "at-least",
      times,
    ),
    judge(
      "loops-vs-socket",
      "report's loops no slower than a Unix-socket stream",
      loopSpeedups(data, "socket"),
      1,
      "at-least",
      times,
    ),
    judge(
      "pingpong-vs-socket",
      "CondVar ping-pong ≤ 0.5× a Unix-socket round trip",
      pingPongRatios(data),
      0.5,
      "at-most",
      times,
    ),
    judge(
      "wake-vs-socket",
      "parked wake-up p50 ≤ 1.5× one Unix-socket wake-up",
      data.condvar.wakeRatios,
      1.5,
      "at-most",
      times,
    ),
    ...endToEndGoals(data),
  ];
  return goals;
}

/** Issue 12's: the command a user types, whole processes, against what they would type instead. */
function endToEndGoals(data: SuiteData): Goal[] {
  const size = data.plan.quick ? "--quick-sized" : "2 GiB";
  return [
    judge(
      "e2e-null-vs-socat",
      `${size} file → /dev/null, whole processes: ivsh ≥ 1.8× socat`,
      endToEndSpeedup(data, "ivsh-null", "socat-null"),
      1.8,
      "at-least",
      times,
    ),
    judge(
      "e2e-null-vs-dd",
      `${size} file → /dev/null: ivsh within 1.5× one dd read of the file`,
      endToEndSlowdown(data, "ivsh-null", "dd"),
      1.5,
      "at-most",
      times,
    ),
    judge(
      "e2e-file-vs-socat",
      `${size} file → new file: ivsh ≥ 1.8× socat`,
      endToEndSpeedup(data, "ivsh-file", "socat-file"),
      1.8,
      "at-least",
      times,
    ),
    judge(
      "e2e-small-vs-socat",
      "1 KiB file end to end: ivsh within 2× socat's time",
      endToEndSlowdown(data, "ivsh-small", "socat-small"),
      2,
      "at-most",
      times,
    ),
  ];
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
