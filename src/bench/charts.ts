/**
 * The report's figures as static SVG files: a line chart over block sizes on a log2 axis (Fig. 3a, with
 * memcpy bandwidth as a reference line) and a grouped bar chart with error bars (Fig. 3b, 4a, 4b).
 *
 * Hand-written rather than a library: the npm charting libraries either need a DOM or canvas to render
 * (Observable Plot, Chartist, uPlot, anything on d3-selection) or are megabytes of dependency for two
 * chart types (Vega), and d3-scale alone would save the twenty lines of scales and ticks in svg.ts. Two
 * charts in ~300 lines of plain string building keep `ivsh` dependency-free and the output predictable.
 *
 * Elements carry classes (series, point, bar, error-bar, reference) so tests and stylesheets can find them.
 */
import { mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { scaleBytes } from "../units.ts";
import {
  colorAt,
  element,
  errorBar,
  legend,
  linearScale,
  log2Scale,
  log2Ticks,
  type PlotArea,
  round,
  type Scale,
  svgDocument,
  text,
  xAxisLine,
  yAxis,
  zeroBasedTicks,
} from "./svg.ts";

export interface ChartPoint {
  readonly x: number;
  readonly y: number;
  /** Spread around y, drawn as an error bar when both are given. */
  readonly low?: number;
  readonly high?: number;
}

export interface LineSeries {
  readonly label: string;
  readonly points: readonly ChartPoint[];
}

export interface ReferenceLine {
  readonly label: string;
  readonly y: number;
}

export interface LineChartSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly LineSeries[];
  /** Horizontal lines across the plot, e.g. memcpy bandwidth as the ceiling of every transfer. */
  readonly references?: readonly ReferenceLine[];
}

export interface BarValue {
  readonly value: number;
  readonly low?: number;
  readonly high?: number;
}

export interface BarSeries {
  readonly label: string;
  /** One value per category, in category order; undefined where the series has no result (shown "n/a"). */
  readonly values: readonly (BarValue | undefined)[];
}

export interface BarChartSpec {
  readonly title: string;
  readonly yLabel: string;
  readonly categories: readonly string[];
  readonly series: readonly BarSeries[];
}

const X_PADDING = 2 ** 0.25;
const [WIDTH, HEIGHT] = [720, 440];
const AREA = { left: 78, top: 64, right: WIDTH - 24, bottom: HEIGHT - 56 };

function formatTick(value: number): string {
  return Number(value.toPrecision(3)).toString();
}

/** Tick labels for power-of-two sizes: "4 KiB", "1 MiB", with decimals only when needed. */
export function formatBlockSize(bytes: number): string {
  const [value, unit] = scaleBytes(bytes);
  return `${Number(value.toPrecision(3))} ${unit}`;
}

/**
 * What every chart has: its size, a y axis from 0 past `maxY`, the x axis line and a legend of `series`;
 * `plot` draws the rest on the plot area with the y scale.
 */
function chart(
  spec: LineChartSpec | BarChartSpec,
  xLabel: string,
  maxY: number,
  plot: (area: PlotArea, y: Scale) => string[],
): string {
  const yTicks = zeroBasedTicks(maxY);
  const y = linearScale([0, yTicks[yTicks.length - 1]!], [AREA.bottom, AREA.top]);
  const labels = spec.series.map((series) => series.label);
  const body = [
    yAxis(AREA, yTicks, y, spec.yLabel, formatTick),
    xAxisLine(AREA, xLabel, HEIGHT),
    ...plot(AREA, y),
    legend(labels, AREA.left, 44),
  ];
  return svgDocument(WIDTH, HEIGHT, spec.title, body);
}

export function renderLineChart(spec: LineChartSpec): string {
  const points = spec.series.flatMap((series) => series.points);
  const xs = points.map((point) => point.x).filter((x) => x > 0);
  const xTicks = xs.length > 0 ? log2Ticks(Math.min(...xs), Math.max(...xs)) : [1, 2];
  const tops = points.map((point) => Math.max(point.y, point.high ?? 0));
  const maxY = Math.max(0, ...tops, ...(spec.references ?? []).map((line) => line.y));
  return chart(spec, spec.xLabel, maxY, (area, y) => {
    // A quarter octave of room on each side keeps the outermost points off the y axis.
    const x = log2Scale(
      [xTicks[0]! / X_PADDING, xTicks[xTicks.length - 1]! * X_PADDING],
      [area.left, area.right],
    );
    return [
      ...xTicks.map((tick) =>
        text(x(tick), area.bottom + 18, formatBlockSize(tick), { "text-anchor": "middle" }),
      ),
      ...(spec.references ?? []).map((line) => referenceLine(area, y(line.y), line.label)),
      ...spec.series.map((series, index) => lineSeries(series, colorAt(index), x, y)),
    ];
  });
}

function referenceLine(area: PlotArea, y: number, label: string): string {
  return [
    element("line", {
      class: "reference",
      x1: area.left,
      x2: area.right,
      y1: y,
      y2: y,
      stroke: "#888",
      "stroke-dasharray": "6 4",
    }),
    // At the left end: block-size curves fall to the right, so the left end is where the line is clear.
    text(area.left + 6, y - 5, label, { fill: "#555" }),
  ].join("\n");
}

function lineSeries(series: LineSeries, color: string, x: (v: number) => number, y: (v: number) => number) {
  const sorted = [...series.points].filter((point) => point.x > 0).sort((a, b) => a.x - b.x);
  const d = sorted
    .map((point, index) => `${index === 0 ? "M" : "L"}${round(x(point.x))} ${round(y(point.y))}`)
    .join("");
  const parts =
    sorted.length > 0
      ? [element("path", { class: "series", d, stroke: color, fill: "none", "stroke-width": 2 })]
      : [];
  for (const point of sorted) {
    if (point.low !== undefined && point.high !== undefined)
      parts.push(errorBar(x(point.x), y(point.low), y(point.high), 8));
    parts.push(element("circle", { class: "point", cx: x(point.x), cy: y(point.y), r: 3.5, fill: color }));
  }
  return element("g", { "data-series": series.label }, parts.join(""));
}

export function renderBarChart(spec: BarChartSpec): string {
  const values = spec.series.flatMap((series) => series.values).filter((value) => value !== undefined);
  const maxY = Math.max(0, ...values.map((value) => Math.max(value.value, value.high ?? 0)));
  return chart(spec, "", maxY, (area, y) => {
    const band = (area.right - area.left) / Math.max(1, spec.categories.length);
    const barWidth = (band * 0.8) / Math.max(1, spec.series.length);
    const labels = spec.categories.map((category, index) =>
      text(area.left + band * (index + 0.5), area.bottom + 18, category, { "text-anchor": "middle" }),
    );
    const groups = spec.series.map((series, seriesIndex) => {
      const bars = spec.categories.map((_, categoryIndex) => {
        const left = area.left + band * categoryIndex + band * 0.1 + barWidth * seriesIndex;
        return bar(series.values[categoryIndex], left, barWidth, y, colorAt(seriesIndex));
      });
      return element("g", { "data-series": series.label }, bars.join(""));
    });
    return [...labels, ...groups];
  });
}

function bar(
  value: BarValue | undefined,
  left: number,
  width: number,
  y: (v: number) => number,
  color: string,
): string {
  const middle = left + width / 2;
  const base = y(0);
  if (value === undefined) return text(middle, base - 4, "n/a", { "text-anchor": "middle", fill: "#777" });
  const top = y(value.value);
  const parts = [
    element("rect", {
      class: "bar",
      x: left + 1,
      y: top,
      width: Math.max(1, width - 2),
      height: base - top,
      fill: color,
    }),
  ];
  if (value.low !== undefined && value.high !== undefined)
    parts.push(errorBar(middle, y(value.low), y(value.high), Math.min(10, width / 2)));
  const labelY = Math.min(top, value.high === undefined ? top : y(value.high)) - 4;
  parts.push(text(middle, labelY, formatTick(value.value), { "text-anchor": "middle", "font-size": 10 }));
  return parts.join("");
}

/** Writes a rendered chart, creating its directory. */
export async function writeChart(path: string, svg: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await Bun.write(path, svg);
}
