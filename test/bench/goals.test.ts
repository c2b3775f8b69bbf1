/**
 * Every goal can both PASS and MISS: each is held against its row at the target, in the row's
 * unit (ns for the lock and the hand-off, a fraction for the lock share), in the stated direction. A goal
 * whose target or direction drifted (say 0.2 µs written as 2 µs) would pass every run and never show it.
 */
import { describe, expect, test } from "bun:test";
import { evaluateGoals } from "../../src/bench/goals.ts";
import { benchPlan } from "../../src/bench/plan.ts";
import { row } from "../../src/bench/report.ts";

const plan = benchPlan({ quick: true, vm: false });

/** [goal id, the row it judges, its unit, at least (≥) or at most (≤), the target in that unit]. */
const GOALS: readonly [string, string, "ratio" | "fraction" | "ns", "≥" | "≤", number][] = [
  ["transfer-vs-unix-bun", "ratio.ivsh-unix-bun", "ratio", "≥", 3],
  ["transfer-vs-unix-socat", "ratio.ivsh-unix-socat", "ratio", "≥", 3],
  ["transfer-vs-memcpy", "ratio.ivsh-memcpy", "fraction", "≥", 0.5],
  ["uncontended-lock", "lock.fast", "ns", "≤", 200],
  ["handoff-p50", "handoff.parked", "ns", "≤", 30_000],
  ["lock-share", "lock-share.fast", "fraction", "≤", 0.01],
  ["loops-vs-rpc", "loops.speedup-rpc", "ratio", "≥", 2],
  ["loops-vs-socket", "loops.speedup-socket", "ratio", "≥", 1],
  ["pingpong-vs-socket", "pingpong.ratio", "ratio", "≤", 0.5],
  ["wake-vs-socket", "wake.ratio", "ratio", "≤", 1.5],
  ["e2e-null-vs-socat", "e2e.speedup.null-socat", "ratio", "≥", 1.8],
  ["e2e-null-vs-dd", "e2e.slowdown.null-dd", "ratio", "≤", 1.5],
  ["e2e-file-vs-socat", "e2e.speedup.file-socat", "ratio", "≥", 1.8],
  ["e2e-small-vs-socat", "e2e.slowdown.small-socat", "ratio", "≤", 2],
];

/** Every goal judged on rows that all have the median `value(target)`. */
function judged(value: (target: number, direction: "≥" | "≤") => number) {
  const results = GOALS.map(([, rowId, unit, direction, target]) =>
    row(rowId, rowId, unit, [value(target, direction)]),
  );
  return new Map(evaluateGoals(plan, results).map((goal) => [goal.id, goal]));
}

describe("every goal can pass and can miss", () => {
  test("the list of goals is the issue's", () => {
    expect([...judged((target) => target).keys()]).toEqual(GOALS.map(([id]) => id));
  });

  test.each(GOALS)("%s: %s %s %s %p", (id, _row, _unit, direction, target) => {
    // Exactly on target passes; 10% the wrong side of it misses, 10% the right side passes.
    const worse = (value: number, way: string) => (way === "≥" ? value * 0.9 : value * 1.1);
    const better = (value: number, way: string) => (way === "≥" ? value * 1.1 : value * 0.9);
    expect(judged((value) => value).get(id)).toMatchObject({ pass: true, target });
    expect(judged(better).get(id)).toMatchObject({ pass: true });
    const missed = judged(worse).get(id);
    expect(missed).toMatchObject({ pass: false });
    expect(missed?.gap).toBe(direction === "≥" ? "needs 1.11× more" : "1.10× over");
  });
});
