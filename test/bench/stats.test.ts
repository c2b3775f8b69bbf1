import { describe, expect, test } from "bun:test";
import { middleSample, quantile, spreadOf, summarize, summarizeRates } from "../../src/bench/stats.ts";
import { isIvshError } from "../../src/errors.ts";

describe("quantile (linear interpolation, numpy's default)", () => {
  const cases: [number[], number, number][] = [
    [[5], 0, 5],
    [[5], 0.99, 5],
    [[1, 2], 0.5, 1.5],
    [[1, 2, 3, 4], 0.25, 1.75],
    [[1, 2, 3, 4], 0.75, 3.25],
    [[1, 2, 3, 4, 5], 0.5, 3],
    [[0, 10], 0.99, 9.9],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.99, 9.91],
    [[1, 2, 3], 1, 3],
    [[1, 2, 3], 0, 1],
  ];
  test.each(cases)("quantile(%p, %p) = %p", (sorted, q, expected) => {
    expect(quantile(sorted, q)).toBeCloseTo(expected, 10);
  });

  test.each([[-0.1], [1.1], [Number.NaN]])("rejects q = %p", (q) => {
    expect(() => quantile([1, 2], q)).toThrow(/Failed to compute quantile/);
  });
});

describe("summarize", () => {
  const cases: {
    samples: number[];
    min: number;
    max: number;
    mean: number;
    median: number;
    iqr: number;
    stddev: number;
  }[] = [
    { samples: [7], min: 7, max: 7, mean: 7, median: 7, iqr: 0, stddev: 0 },
    { samples: [3, 1, 2], min: 1, max: 3, mean: 2, median: 2, iqr: 1, stddev: 1 },
    { samples: [4, 1, 3, 2], min: 1, max: 4, mean: 2.5, median: 2.5, iqr: 1.5, stddev: Math.sqrt(5 / 3) },
    { samples: [10, 10, 10, 10, 50], min: 10, max: 50, mean: 18, median: 10, iqr: 0, stddev: Math.sqrt(320) },
  ];
  test.each(cases)("$samples", ({ samples, ...expected }) => {
    const summary = summarize(samples);
    expect(summary.count).toBe(samples.length);
    for (const [key, value] of Object.entries(expected))
      expect(summary[key as keyof typeof expected]).toBeCloseTo(value, 10);
    expect(summary.p50).toBe(summary.median);
    expect(summary.q3 - summary.q1).toBeCloseTo(summary.iqr, 12);
  });

  test("does not reorder the caller's array", () => {
    const samples = [3, 1, 2];
    summarize(samples);
    expect(samples).toEqual([3, 1, 2]);
  });

  test.each([[[]], [[1, Number.NaN]], [[Number.POSITIVE_INFINITY]]])("rejects %p", (samples) => {
    let caught: unknown;
    try {
      summarize(samples);
    } catch (error) {
      caught = error;
    }
    expect(isIvshError(caught, "InvalidArgument")).toBe(true);
  });
});

describe("summarizeRates", () => {
  test("computes a rate per sample, so the median rate comes from the median time", () => {
    const summary = summarizeRates(1000, [1, 2, 4]);
    expect(summary.min).toBe(250);
    expect(summary.median).toBe(500);
    expect(summary.max).toBe(1000);
  });
  test("rejects zero durations", () => {
    expect(() => summarizeRates(1, [0])).toThrow(/not positive/);
  });
});

describe("spreadOf", () => {
  const cases: [number[], "range" | "iqr", number, number][] = [
    [[1, 2, 3], "range", 1, 3],
    [[1, 2, 3, 4], "range", 1, 4],
    [[1, 2, 3, 4, 5], "iqr", 2, 4],
    [[5, 1, 4, 2, 3, 100], "iqr", 2.25, 4.75],
  ];
  test.each(cases)("%p → %p %p..%p", (samples, kind, low, high) => {
    const spread = spreadOf(summarize(samples));
    expect(spread.kind).toBe(kind);
    expect(spread.low).toBeCloseTo(low, 10);
    expect(spread.high).toBeCloseTo(high, 10);
  });
});

describe("middleSample (the 1 KiB end-to-end runs of a round)", () => {
  // The runs arrive in the order they ran: the middle one by time, not by position, and one that occurred.
  const cases: [number[], number][] = [
    [[5, 1, 4, 2, 3], 3],
    [[9, 1, 5], 5],
    [[0.3, 0.1], 0.3],
    [[4, 1, 3, 2], 3],
    [[7], 7],
  ];
  test.each(cases)("%p → %p", (values, expected) => {
    expect(middleSample(values)).toBe(expected);
  });
  test("of no runs is NaN, and the caller's array keeps its order", () => {
    expect(middleSample([])).toBeNaN();
    const runs = [3, 1, 2];
    middleSample(runs);
    expect(runs).toEqual([3, 1, 2]);
  });
});
