/**
 * SVG building blocks for charts.ts: escaping, elements, scales, ticks, axes and the legend. Everything
 * returns strings; the charts are static files, so there is no DOM and no script.
 */

export interface PlotArea {
  readonly left: number;
  readonly top: number;
  readonly right: number;
  readonly bottom: number;
}

export type Scale = (value: number) => number;

/** Okabe–Ito colours: distinguishable with the common colour-vision deficiencies and in greyscale print. */
const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"];

export function colorAt(index: number): string {
  return PALETTE[index % PALETTE.length]!;
}

export function escapeXml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&apos;");
}

type AttributeValue = string | number | undefined;

/** One element; numbers are rounded to 0.1 px, which is finer than any screen and keeps files small. */
export function element(name: string, attributes: Record<string, AttributeValue>, content?: string): string {
  const rendered = Object.entries(attributes)
    .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
    .map(([key, value]) => ` ${key}="${typeof value === "number" ? round(value) : escapeXml(value)}"`)
    .join("");
  return content === undefined ? `<${name}${rendered}/>` : `<${name}${rendered}>${content}</${name}>`;
}

export function text(
  x: number,
  y: number,
  content: string,
  attributes: Record<string, AttributeValue> = {},
): string {
  return element("text", { x, y, ...attributes }, escapeXml(content));
}

export function round(value: number): string {
  return String(Math.round(value * 10) / 10);
}

export function svgDocument(width: number, height: number, title: string, body: readonly string[]): string {
  const header = element(
    "svg",
    {
      xmlns: "http://www.w3.org/2000/svg",
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      "font-family": "sans-serif",
      "font-size": 12,
    },
    [
      element("title", {}, escapeXml(title)),
      element("rect", { width, height, fill: "white" }),
      text(width / 2, 22, title, { "text-anchor": "middle", "font-size": 15, "font-weight": "bold" }),
      ...body,
    ].join("\n"),
  );
  return `<?xml version="1.0" encoding="UTF-8"?>\n${header}\n`;
}

export function linearScale(domain: [number, number], range: [number, number]): Scale {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const span = d1 - d0 || 1;
  return (value) => r0 + ((value - d0) / span) * (r1 - r0);
}

export function log2Scale(domain: [number, number], range: [number, number]): Scale {
  const linear = linearScale([Math.log2(domain[0]), Math.log2(domain[1])], range);
  return (value) => linear(Math.log2(value));
}

/** Round ticks from 0 to at least `max`: steps of 1, 2 or 5 times a power of ten. */
export function zeroBasedTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((factor) => factor * power >= raw) ?? 10) * power;
  const ticks: number[] = [];
  for (let tick = 0; tick < max + step * 0.999; tick += step) ticks.push(Number(tick.toPrecision(12)));
  return ticks;
}

/** Powers of two covering [min, max]; every second or fourth one when there would be too many. */
export function log2Ticks(min: number, max: number, maxTicks = 12): number[] {
  const first = Math.floor(Math.log2(min));
  const last = Math.ceil(Math.log2(max));
  const every = 2 ** Math.max(0, Math.ceil(Math.log2((last - first + 1) / maxTicks)));
  const ticks: number[] = [];
  for (let exponent = first; exponent <= last; exponent += every) ticks.push(2 ** exponent);
  return ticks;
}

/** Left axis with horizontal grid lines at each tick, and its title turned upright. */
export function yAxis(
  area: PlotArea,
  ticks: readonly number[],
  scale: Scale,
  label: string,
  format: (v: number) => string,
) {
  const parts = ticks.map((tick) => {
    const y = scale(tick);
    return [
      element("line", { class: "grid", x1: area.left, x2: area.right, y1: y, y2: y, stroke: "#ddd" }),
      text(area.left - 6, y + 4, format(tick), { "text-anchor": "end" }),
    ].join("");
  });
  const middle = (area.top + area.bottom) / 2;
  parts.push(
    text(16, middle, label, { "text-anchor": "middle", transform: `rotate(-90 16 ${round(middle)})` }),
  );
  parts.push(
    element("line", { x1: area.left, x2: area.left, y1: area.top, y2: area.bottom, stroke: "#333" }),
  );
  return parts.join("\n");
}

/** Bottom axis line and its title; tick labels differ per chart kind and are drawn by the chart. */
export function xAxisLine(area: PlotArea, label: string, height: number): string {
  return [
    element("line", { x1: area.left, x2: area.right, y1: area.bottom, y2: area.bottom, stroke: "#333" }),
    text((area.left + area.right) / 2, height - 10, label, { "text-anchor": "middle" }),
  ].join("\n");
}

/** A row of colour swatches and names under the title. */
export function legend(labels: readonly string[], x: number, y: number): string {
  let at = x;
  return labels
    .map((label, index) => {
      const swatch = element("rect", { x: at, y: y - 9, width: 12, height: 12, fill: colorAt(index) });
      const name = text(at + 16, y + 1, label);
      at += 28 + label.length * 7;
      return swatch + name;
    })
    .join("\n");
}

/** A vertical error bar with caps, as one path so each bar is one element. */
export function errorBar(x: number, low: number, high: number, capWidth: number): string {
  const half = capWidth / 2;
  const d = `M${round(x - half)} ${round(low)}H${round(x + half)}M${round(x)} ${round(low)}V${round(high)}M${round(x - half)} ${round(high)}H${round(x + half)}`;
  return element("path", { class: "error-bar", d, stroke: "#222", fill: "none" });
}
