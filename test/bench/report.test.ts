import { describe, expect, test } from "bun:test";
import {
  type BenchResult,
  formatSeconds,
  formatValue,
  ratioOf,
  renderResults,
  renderTable,
} from "../../src/bench/report.ts";
import { summarize } from "../../src/bench/stats.ts";

describe("renderTable", () => {
  test("pads columns to one width and right-aligns numbers", () => {
    const table = renderTable(
      [{ title: "Name" }, { title: "Rate", align: "right" }],
      [
        ["memcpy", "11.20 GB/s"],
        ["unix | socat", "5.1 GB/s"],
      ],
    );
    expect(table.split("\n")).toEqual([
      "| Name          |       Rate |",
      "| ------------- | ---------: |",
      "| memcpy        | 11.20 GB/s |",
      "| unix \\| socat |   5.1 GB/s |",
    ]);
  });

  test("fills missing cells", () => {
    expect(renderTable([{ title: "a" }, { title: "b" }], [["x"]]).split("\n")[2]).toBe("| x   |     |");
  });
});

describe("formatting", () => {
  test.each([
    [1.5, "1.5 s"],
    [0.0123, "12.3 ms"],
    [4.56e-6, "4.56 µs"],
    [8.1e-8, "81 ns"],
    [0, "0 ns"],
  ])("formatSeconds(%p) = %p", (seconds, expected) => {
    expect(formatSeconds(seconds)).toBe(expected);
  });

  test.each([
    [11.2e9, "bytes/s", "11.20 GB/s"],
    [95.4, "ns", "95.4 ns"],
    [2.5, "s", "2.5 s"],
  ] as const)("formatValue(%p, %p) = %p", (value, unit, expected) => {
    expect(formatValue(value, unit)).toBe(expected);
  });
});

const memcpy: BenchResult = {
  id: "memcpy.large",
  label: "memcpy",
  unit: "bytes/s",
  samples: summarize([10e9, 10e9, 10e9]),
};

describe("ratioOf", () => {
  test("rates compare as value / reference, times as reference / value", () => {
    const rate: BenchResult = { id: "r", label: "r", unit: "bytes/s", samples: summarize([5e9]) };
    const fast: BenchResult = { id: "t1", label: "t1", unit: "s", samples: summarize([1]) };
    const slow: BenchResult = { id: "t2", label: "t2", unit: "s", samples: summarize([4]) };
    expect(ratioOf(rate, memcpy)).toBe(0.5);
    expect(ratioOf(slow, fast)).toBe(0.25);
    expect(ratioOf(fast, memcpy)).toBeUndefined();
    expect(ratioOf(rate, undefined)).toBeUndefined();
  });
});

describe("renderResults", () => {
  const results: BenchResult[] = [
    memcpy,
    {
      id: "stream.unix-bun",
      label: "Unix socket (Bun)",
      unit: "bytes/s",
      samples: summarize([2e9, 2.5e9, 3e9]),
      ratioTo: "memcpy.large",
    },
    {
      id: "stream.unix-socat",
      label: "Unix socket (socat)",
      unit: "bytes/s",
      note: "socat is not installed",
    },
    { id: "lat", label: "random load", unit: "ns", samples: summarize([90, 95, 100, 105, 200]) },
  ];
  const lines = renderResults(results).split("\n");

  test("one header, one rule and one line per result, all of one width", () => {
    expect(lines).toHaveLength(2 + results.length);
    expect(new Set(lines.map((line) => line.length)).size).toBe(1);
  });

  test("shows medians, spreads, fractions of memcpy and why a result is missing", () => {
    expect(lines[3]).toContain("2.50 GB/s");
    expect(lines[3]).toContain("2.00 GB/s – 3.00 GB/s");
    expect(lines[3]).toContain("25.0% of memcpy");
    expect(lines[4]).toContain("n/a");
    expect(lines[4]).toContain("socat is not installed");
    expect(lines[5]).toContain("95 ns – 105 ns");
  });

  test("a p99 only from enough samples: of 5 rounds it would be the maximum under another name", () => {
    // Of 90, 95, 100, 105, 200 the p99 would be 196 ns, 96% of the way from the 4th sample to the 5th.
    expect(lines[5]).not.toContain("196 ns");
    const many = Array.from({ length: 200 }, (_, index) => 1000 + index);
    const latencies: BenchResult = { id: "h", label: "hand-off", unit: "ns", samples: summarize(many) };
    // Type 7 over 200 samples: 1000 + 199 × 0.99 = 1197.01 ns.
    expect(renderResults([latencies]).split("\n")[2]).toContain("1.2 µs");
  });
});
