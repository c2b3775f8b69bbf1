import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type BarChartSpec,
  type LineChartSpec,
  log2Ticks,
  renderBarChart,
  renderLineChart,
  zeroBasedTicks,
} from "../../src/bench/charts.ts";
import { writeWhole } from "../../src/bench/output.ts";
import { allElements, parseXml, type XmlElement } from "./xml.ts";

function withClass(root: XmlElement, name: string): XmlElement[] {
  return allElements(root).filter((element) => element.attributes.get("class") === name);
}

const MiB = 1024 * 1024;
const blockSizes = [4096, 65536, MiB, 4 * MiB, 16 * MiB];

const lineSpec: LineChartSpec = {
  title: "Transfer time of 2 GiB vs block size <guest → host & back>",
  xLabel: "block size",
  yLabel: "seconds",
  series: [
    {
      label: "guest → host",
      points: blockSizes.map((x, i) => ({ x, value: 5 - i, low: 4.5 - i, high: 5.5 - i })),
    },
    { label: "host → guest", points: blockSizes.map((x, i) => ({ x, value: 6 - i })) },
  ],
  references: [{ label: "memcpy limit", y: 0.2 }],
};

const barSpec: BarChartSpec = {
  title: "Transfer rate by mode",
  yLabel: "GB/s",
  categories: ["host", "guest → host", "host → guest"],
  series: [
    { label: "ivsh", values: [{ value: 8, low: 7, high: 9 }, { value: 5, low: 4, high: 6 }, { value: 3 }] },
    {
      label: "unix socket",
      values: [{ value: 4, low: 3.5, high: 4.5 }, undefined, { value: 1, low: 0.9, high: 1.1 }],
    },
    { label: "socat", values: [undefined, undefined, undefined] },
  ],
};

describe("renderLineChart", () => {
  const root = parseXml(renderLineChart(lineSpec));

  test("is one well-formed svg document", () => {
    expect(root.name).toBe("svg");
    expect(root.attributes.get("xmlns")).toBe("http://www.w3.org/2000/svg");
  });

  test("draws one path per series, one point per sample, error bars only where a spread is given", () => {
    expect(withClass(root, "series")).toHaveLength(2);
    expect(withClass(root, "point")).toHaveLength(10);
    expect(withClass(root, "error-bar")).toHaveLength(5);
    expect(withClass(root, "reference")).toHaveLength(1);
  });

  test("escapes text and labels the log2 axis with byte sizes", () => {
    const texts = allElements(root)
      .filter((element) => element.name === "text")
      .map((element) => element.text);
    expect(texts).toContain("Transfer time of 2 GiB vs block size &lt;guest → host &amp; back&gt;");
    expect(texts).toContain("4 MiB");
    expect(texts).toContain("memcpy limit");
  });

  test("keeps every coordinate finite", () => {
    for (const element of allElements(root))
      for (const key of ["x", "y", "cx", "cy", "x1", "x2", "y1", "y2", "width", "height"]) {
        const value = element.attributes.get(key);
        if (value !== undefined) expect(Number.isFinite(Number(value))).toBe(true);
      }
  });

  test("renders an empty chart without throwing", () => {
    expect(parseXml(renderLineChart({ title: "empty", xLabel: "x", yLabel: "y", series: [] })).name).toBe(
      "svg",
    );
  });
});

describe("renderBarChart", () => {
  const root = parseXml(renderBarChart(barSpec));

  test("draws one bar per present value and n/a for the rest", () => {
    expect(withClass(root, "bar")).toHaveLength(5);
    expect(withClass(root, "error-bar")).toHaveLength(4);
    const texts = allElements(root)
      .filter((element) => element.name === "text")
      .map((element) => element.text);
    expect(texts.filter((text) => text === "n/a")).toHaveLength(4);
    for (const category of ["host", "guest → host", "host → guest"]) expect(texts).toContain(category);
  });

  test("bars have positive heights and stand on the axis", () => {
    const bars = withClass(root, "bar");
    const bottoms = bars.map((bar) => Number(bar.attributes.get("y")) + Number(bar.attributes.get("height")));
    for (const bar of bars) expect(Number(bar.attributes.get("height"))).toBeGreaterThan(0);
    expect(new Set(bottoms.map((bottom) => Math.round(bottom))).size).toBe(1);
  });
});

describe("ticks", () => {
  test.each([
    [1, [0, 0.2, 0.4, 0.6, 0.8, 1]],
    [9.3, [0, 2, 4, 6, 8, 10]],
    [42, [0, 10, 20, 30, 40, 50]],
    [0, [0, 1]],
  ])("zeroBasedTicks(%p)", (max, expected) => {
    expect(zeroBasedTicks(max)).toEqual(expected);
  });

  test("log2Ticks covers the range in powers of two, thinned when long", () => {
    expect(log2Ticks(4096, 16 * MiB)).toEqual(
      [
        2 ** 12,
        2 ** 13,
        2 ** 14,
        2 ** 15,
        2 ** 16,
        2 ** 17,
        2 ** 18,
        2 ** 19,
        2 ** 20,
        2 ** 21,
        2 ** 22,
        2 ** 23,
        2 ** 24,
      ].filter((_, i) => i % 2 === 0),
    );
    expect(log2Ticks(3000, 5000)).toEqual([2048, 4096, 8192]);
  });
});

describe("writing a chart", () => {
  const dir = mkdtempSync(join(tmpdir(), "ivsh-charts-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("creates missing directories and writes the svg", async () => {
    const path = join(dir, "nested", "fig3b.svg");
    await writeWhole(path, renderBarChart(barSpec));
    expect(parseXml(readFileSync(path, "utf8")).name).toBe("svg");
  });
});
