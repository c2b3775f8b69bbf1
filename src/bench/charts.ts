/**
 * The figures as static SVG: a line chart on a log2 axis (Fig. 3a) and grouped bars with error bars. By hand:
 * charting libraries need a DOM or canvas, or are megabytes for two chart types. Elements carry classes
 * (series, point, bar, error-bar, reference) for tests and stylesheets.
 */
import { formatBlockSize } from "../units.ts";

/** A median with its spread, drawn as an error bar when both `low` and `high` are given. */
export interface BarValue {
  readonly value: number;
  readonly low?: number;
  readonly high?: number;
}

/** A point of a line chart: a value at `x`. */
export type ChartPoint = BarValue & { readonly x: number };

export interface LineChartSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly { readonly label: string; readonly points: readonly ChartPoint[] }[];
  /** Horizontal lines across the plot, e.g. memcpy bandwidth as the ceiling of every transfer. */
  readonly references?: readonly { readonly label: string; readonly y: number }[];
}

export interface BarChartSpec {
  readonly title: string;
  readonly yLabel: string;
  readonly categories: readonly string[];
  /** One value per category and series; undefined where the series has no result (shown "n/a"). */
  readonly series: readonly { readonly label: string; readonly values: readonly (BarValue | undefined)[] }[];
}

/* SVG building blocks: elements, scales, ticks, error bars; chart() draws the axes and the legend. */
type Scale = (value: number) => number;

const X_PADDING = 2 ** 0.25;
const [WIDTH, HEIGHT] = [720, 440];
const AREA = { left: 78, top: 64, right: WIDTH - 24, bottom: HEIGHT - 56 };

/** Okabe–Ito colours: distinguishable with the common colour-vision deficiencies and in greyscale print. */
const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"];
const colorAt = (index: number) => PALETTE[index % PALETTE.length]!;

type Attributes = Record<string, string | number | undefined>;

/** One element; numbers to 0.1 px (finer than any screen), text escaped as XML needs. */
function element(name: string, attributes: Attributes, content?: string): string {
  const rendered = Object.entries(attributes)
    .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
    .map(([key, value]) => ` ${key}="${typeof value === "number" ? round(value) : Bun.escapeHTML(value)}"`)
    .join("");
  return content === undefined ? `<${name}${rendered}/>` : `<${name}${rendered}>${content}</${name}>`;
}

function text(x: number, y: number, content: string, attributes: Attributes = {}) {
  return element("text", { x, y, ...attributes }, Bun.escapeHTML(content));
}

/** A line of `stroke`, with more attributes (a class, a dash pattern). */
function line(x1: number, y1: number, x2: number, y2: number, stroke: string, more: Attributes = {}) {
  return element("line", { ...more, x1, x2, y1, y2, stroke });
}

const round = (value: number) => String(Math.round(value * 10) / 10);
const formatTick = (value: number) => Number(value.toPrecision(3)).toString();
const middle = { "text-anchor": "middle" } as const;

function linearScale([d0, d1]: [number, number], [r0, r1]: [number, number]): Scale {
  const span = d1 - d0 || 1;
  return (value) => r0 + ((value - d0) / span) * (r1 - r0);
}

/** Round ticks from 0 to at least `max`, about five: steps of 1, 2 or 5 times a power of ten. */
export function zeroBasedTicks(max: number): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((factor) => factor * power >= raw) ?? 10) * power;
  const ticks: number[] = [];
  for (let tick = 0; tick < max + step * 0.999; tick += step) ticks.push(Number(tick.toPrecision(12)));
  return ticks;
}

/** Powers of two covering [min, max]; every second or fourth one when there would be more than 12. */
export function log2Ticks(min: number, max: number): number[] {
  const first = Math.floor(Math.log2(min));
  const last = Math.ceil(Math.log2(max));
  const every = 2 ** Math.max(0, Math.ceil(Math.log2((last - first + 1) / 12)));
  const ticks: number[] = [];
  for (let exponent = first; exponent <= last; exponent += every) ticks.push(2 ** exponent);
  return ticks;
}

/** A vertical error bar with caps, as one path so each bar is one element; nothing without a spread. */
function errorBar(x: number, value: BarValue, y: Scale, capWidth: number): string {
  if (value.low === undefined || value.high === undefined) return "";
  const [low, high, half] = [y(value.low), y(value.high), capWidth / 2];
  const d = `M${round(x - half)} ${round(low)}H${round(x + half)}M${round(x)} ${round(low)}V${round(high)}M${round(x - half)} ${round(high)}H${round(x + half)}`;
  return element("path", { class: "error-bar", d, stroke: "#222", fill: "none" });
}

/** Title, y axis from 0 past `values` with grid, x axis, legend; `plot` draws the rest with the y scale. */
function chart(
  spec: LineChartSpec | BarChartSpec,
  values: readonly BarValue[],
  plot: (y: Scale) => string[],
) {
  const { left, right, top, bottom } = AREA;
  const yTicks = zeroBasedTicks(
    Math.max(0, ...values.map((value) => Math.max(value.value, value.high ?? 0))),
  );
  const y = linearScale([0, yTicks[yTicks.length - 1]!], [bottom, top]);
  const yAxis = yTicks.map(
    (tick) =>
      line(left, y(tick), right, y(tick), "#ddd", { class: "grid" }) +
      text(left - 6, y(tick) + 4, formatTick(tick), { "text-anchor": "end" }),
  );
  const half = (top + bottom) / 2;
  const legendY = 44; // under the title
  let at = left;
  const legend = spec.series.map(({ label }, index) => {
    const swatch = element("rect", { x: at, y: legendY - 9, width: 12, height: 12, fill: colorAt(index) });
    const name = text(at + 16, legendY + 1, label);
    at += 28 + label.length * 7;
    return swatch + name;
  });
  const body = [
    element("title", {}, Bun.escapeHTML(spec.title)),
    element("rect", { width: WIDTH, height: HEIGHT, fill: "white" }),
    text(WIDTH / 2, 22, spec.title, { ...middle, "font-size": 15, "font-weight": "bold" }),
    [
      ...yAxis,
      text(16, half, spec.yLabel, { ...middle, transform: `rotate(-90 16 ${round(half)})` }),
      line(left, top, left, bottom, "#333"),
    ].join("\n"),
    line(left, bottom, right, bottom, "#333"),
    text((left + right) / 2, HEIGHT - 10, "xLabel" in spec ? spec.xLabel : "", middle),
    ...plot(y),
    legend.join("\n"),
  ];
  const size = { width: WIDTH, height: HEIGHT, viewBox: `0 0 ${WIDTH} ${HEIGHT}` };
  const font = { "font-family": "sans-serif", "font-size": 12 };
  const svg = element("svg", { xmlns: "http://www.w3.org/2000/svg", ...size, ...font }, body.join("\n"));
  return `<?xml version="1.0" encoding="UTF-8"?>\n${svg}\n`;
}

export function renderLineChart(spec: LineChartSpec): string {
  const points = spec.series.flatMap((series) => series.points);
  const xs = points.map((point) => point.x).filter((x) => x > 0);
  const xTicks = xs.length > 0 ? log2Ticks(Math.min(...xs), Math.max(...xs)) : [1, 2];
  const references = spec.references ?? [];
  const maxima = [...points, ...references.map((reference) => ({ value: reference.y }))];
  return chart(spec, maxima, (y) => {
    // A quarter octave of room on each side keeps the outermost points off the y axis.
    const [low, high] = [xTicks[0]! / X_PADDING, xTicks[xTicks.length - 1]! * X_PADDING];
    const log2 = linearScale([Math.log2(low), Math.log2(high)], [AREA.left, AREA.right]);
    const x = (value: number) => log2(Math.log2(value));
    return [
      ...xTicks.map((tick) => text(x(tick), AREA.bottom + 18, formatBlockSize(tick), middle)),
      ...references.map((reference) => referenceLine(y(reference.y), reference.label)),
      ...spec.series.map((series, index) => lineSeries(series, colorAt(index), x, y)),
    ];
  });
}

function referenceLine(y: number, label: string): string {
  return [
    line(AREA.left, y, AREA.right, y, "#888", { class: "reference", "stroke-dasharray": "6 4" }),
    // At the left end: block-size curves fall to the right, so the left end is where the line is clear.
    text(AREA.left + 6, y - 5, label, { fill: "#555" }),
  ].join("\n");
}

function lineSeries(series: LineChartSpec["series"][number], color: string, x: Scale, y: Scale) {
  const sorted = [...series.points].filter((point) => point.x > 0).sort((a, b) => a.x - b.x);
  const d = sorted
    .map((point, index) => `${index === 0 ? "M" : "L"}${round(x(point.x))} ${round(y(point.value))}`)
    .join("");
  const path = element("path", { class: "series", d, stroke: color, fill: "none", "stroke-width": 2 });
  const points = sorted.map(
    (point) =>
      errorBar(x(point.x), point, y, 8) +
      element("circle", { class: "point", cx: x(point.x), cy: y(point.value), r: 3.5, fill: color }),
  );
  return element("g", { "data-series": series.label }, (sorted.length > 0 ? path : "") + points.join(""));
}

export function renderBarChart(spec: BarChartSpec): string {
  const values = spec.series.flatMap((series) => series.values).filter((value) => value !== undefined);
  return chart(spec, values, (y) => {
    const band = (AREA.right - AREA.left) / Math.max(1, spec.categories.length);
    const barWidth = (band * 0.8) / Math.max(1, spec.series.length);
    const labels = spec.categories.map((category, index) =>
      text(AREA.left + band * (index + 0.5), AREA.bottom + 18, category, middle),
    );
    const groups = spec.series.map((series, seriesIndex) => {
      const bars = spec.categories.map((_, categoryIndex) => {
        const left = AREA.left + band * categoryIndex + band * 0.1 + barWidth * seriesIndex;
        return bar(series.values[categoryIndex], left, barWidth, y, colorAt(seriesIndex));
      });
      return element("g", { "data-series": series.label }, bars.join(""));
    });
    return [...labels, ...groups];
  });
}

function bar(value: BarValue | undefined, left: number, width: number, y: Scale, color: string): string {
  const center = left + width / 2;
  const base = y(0);
  if (value === undefined) return text(center, base - 4, "n/a", { ...middle, fill: "#777" });
  const top = y(value.value);
  const labelY = Math.min(top, value.high === undefined ? top : y(value.high)) - 4;
  const rect = {
    class: "bar",
    x: left + 1,
    y: top,
    width: Math.max(1, width - 2),
    height: base - top,
    fill: color,
  };
  return [
    element("rect", rect),
    errorBar(center, value, y, Math.min(10, width / 2)),
    text(center, labelY, formatTick(value.value), { ...middle, "font-size": 10 }),
  ].join("");
}
