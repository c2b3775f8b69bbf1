/** Human sizes and durations for flags and output: "64MiB", "4k", "1.5GB"; "5s", "250ms". */
import { failure } from "./errors.ts";

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
  // Too large for any region, but units all the same: "1PiB" was "not a size", though the refusal of a
  // size too large named 8 PiB.
  p: 1024 ** 5,
  pb: 1000 ** 5,
  pib: 1024 ** 5,
  e: 1024 ** 6,
  eb: 1000 ** 6,
  eib: 1024 ** 6,
};

/** Parses a byte size; `what` names the flag in the error ("--size"). */
export function parseSize(text: string | number, what: string): number {
  if (typeof text === "number") return text;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = SIZE_UNITS[(match?.[2] ?? "?").toLowerCase()];
  if (!match || unit === undefined)
    throw failure(
      "InvalidArgument",
      `parse ${what} '${text}'`,
      "it is not a size like 4096, 64KiB, 256MiB or 2GiB",
    );
  const bytes = Number(match[1]) * unit;
  if (bytes > Number.MAX_SAFE_INTEGER)
    throw failure(
      "InvalidArgument",
      `parse ${what} '${text}'`,
      "it is larger than any size ivsh can use (under 8 PiB: at most 2^53 - 1 bytes)",
    );
  if (!Number.isSafeInteger(bytes))
    throw failure("InvalidArgument", `parse ${what} '${text}'`, "it is not a whole number of bytes");
  return bytes;
}

/**
 * For a size written in decimal units ("10MB", "64kB"), what it comes to, as a note for an error that
 * refuses the size (a region and its blocks are counted in powers of two); "" for any other text.
 */
export function decimalSizeNote(text: string | undefined): string {
  const unit = /^\s*[\d.]+\s*([kmgt]b)\s*$/i.exec(text ?? "")?.[1];
  if (unit === undefined) return "";
  return `${text!.trim()} is ${parseSize(text!, "size")} bytes (kB, MB, GB and TB count in 1000s; KiB, MiB, GiB and TiB in 1024s)`;
}

/**
 * A number as a message shows it: a whole one past 2^53 exactly (String() rounds 2 ** 60 to
 * 1152921504606847000, a number the caller never passed), but from 1e21, where String() writes an
 * exponent, as String() does: the caller's own spelling (1e+300), not 301 digits.
 */
export function shownNumber(value: number): string {
  return Number.isInteger(value) && Math.abs(value) < 1e21 ? BigInt(value).toString() : String(value);
}

/** A size as a size flag takes it, exact and without a space: 4KiB, 256MiB, 2GiB (or bytes: 1000). */
export function formatSizeFlag(bytes: number): string {
  for (const [unit, scale] of [
    ["GiB", 1024 ** 3],
    ["MiB", 1024 ** 2],
    ["KiB", 1024],
  ] as const)
    if (bytes >= scale && bytes % scale === 0) return `${bytes / scale}${unit}`;
  return String(bytes);
}

/**
 * Parses a count of things (no units: "1k" is refused); `what` names the flag in the error. `accepts`
 * says what the caller's own check then takes, when that is narrower ("from 2 to 4096"): the message for
 * text that is no number at all then states the real range.
 */
export function parseCount(
  text: string | number,
  what: string,
  options: { allowZero?: boolean; accepts?: string } = {},
): number {
  const value = typeof text === "number" ? text : /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN;
  const least = options.allowZero ? 0 : 1;
  if (!Number.isSafeInteger(value) || value < least)
    throw failure(
      "InvalidArgument",
      `parse ${what} '${text}'`,
      `it is not a whole number ${options.accepts ?? `of ${least} or more (like ${least === 0 ? "0, 10 or 500" : "1, 10 or 500"})`}`,
    );
  return value;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_UNIT_NAMES = "units: ms, s, m for minutes, h";

/**
 * Parses a duration with its unit ("250ms", "5s", "2m", "1h") into milliseconds. A bare number is
 * refused, except 0: `--lease 500` reads as 500 ms to some and 500 s to others. A number given from code
 * means seconds. `least`, the least the caller takes ("1ms"), is named when a sign is refused.
 */
export function parseDuration(text: string | number, what: string, least?: string): number {
  if (typeof text === "number") return text * 1000;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  // `--timeout=` (a variable left unset) was "not a duration like 5s", as if something had been written.
  if (text.trim() === "")
    throw failure(
      "InvalidArgument",
      `parse ${what} '${text}'`,
      `it is empty: write a duration like 5s or 250ms (${DURATION_UNIT_NAMES}), or leave ${what} out`,
    );
  // "-5s" was "not a duration like 5s", which it looks like but for the sign; "-0" was called negative,
  // and "+5s" not a duration. Either sign is refused in words true of both.
  if (!match && /^\s*[-+]\s*\d+(?:\.\d+)?\s*(ms|s|m|h)?\s*$/.test(text))
    throw failure(
      "InvalidArgument",
      `parse ${what} '${text}'`,
      `it has a sign: ${least ? `${what} takes a positive duration, ${least} or more,` : "a duration is"} written without one, like 5s or 250ms (${DURATION_UNIT_NAMES})`,
    );
  if (!match)
    throw failure(
      "InvalidArgument",
      `parse ${what} '${text}'`,
      `it is not a duration like 5s or 250ms (${DURATION_UNIT_NAMES})`,
    );
  const [, number, unit] = match;
  if (unit === undefined && Number(number) !== 0)
    throw failure(
      "InvalidArgument",
      `parse ${what} '${text}'`,
      `it has no unit: write one, e.g. ${number}ms or ${number}s (${DURATION_UNIT_NAMES})`,
    );
  return Math.round(Number(number) * DURATION_UNITS[unit ?? "s"]!);
}

/** The longest duration a timer can wait (setTimeout's limit, 2^31 - 1 ms: about 24.8 days; it fires after 1 ms for anything longer). */
export const LONGEST_TIMER_MS = 2 ** 31 - 1;

/**
 * A duration as people say it: 300 ms, 1.5 s, 2 min 5 s, 3 h 10 min, 24 d 20 h. From a day on, days and
 * hours: the longest lease `ivsh host` takes was said "596 h 31 min" in its start line, and an arbiter's
 * uptime in `ivsh status` grows past that.
 */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${Number((ms / 1000).toFixed(3))} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
  return `${Math.floor(seconds / 86_400)} d ${Math.floor((seconds % 86_400) / 3600)} h`;
}

/** A byte count in the largest binary unit that keeps it at 1 or more: 1536 -> [1.5, "KiB"]. */
function scaleBytes(bytes: number): [value: number, unit: string] {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"] as const;
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return [value, units[unit]!];
}

export function formatBytes(bytes: number): string {
  const [value, unit] = scaleBytes(bytes);
  return `${unit === "B" ? value : value.toFixed(value < 10 ? 2 : 1)} ${unit}`;
}

/** Power-of-two sizes as the benchmark's tables and axes show them: "4 KiB", "1 MiB", decimals only when needed. */
export function formatBlockSize(bytes: number): string {
  const [value, unit] = scaleBytes(bytes);
  return `${Number(value.toPrecision(3))} ${unit}`;
}

/**
 * Bytes per second in decimal units (as the report and most tools use): GB/s, MB/s below 1 GB/s, kB/s
 * below 0.1 MB/s (a few bytes sent in a millisecond read "0.0 MB/s").
 */
export function formatRate(bytesPerSecond: number): string {
  if (bytesPerSecond >= 1e9) return `${(bytesPerSecond / 1e9).toFixed(2)} GB/s`;
  if (bytesPerSecond >= 1e5) return `${(bytesPerSecond / 1e6).toFixed(bytesPerSecond >= 1e8 ? 0 : 1)} MB/s`;
  return `${(bytesPerSecond / 1e3).toFixed(1)} kB/s`;
}

/** A wait as an error shows it: callers pass what is left of a deadline (2973 ms), users read "3 s". */
export function formatWait(ms: number): string {
  return formatDuration(Math.ceil(ms / 100) * 100);
}

/** A count with its noun, plural unless it is one: "1 grant", "0 grants", "3 blocks". */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

/**
 * `word` as a shell reads it back, quoted only when it must be: for commands a message tells to run. A
 * leading `=` is quoted: zsh expands `=cmd` to the path of cmd.
 */
export function shellWord(word: string): string {
  return /^[\w@%+:,./-][\w@%+=:,./-]*$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}
