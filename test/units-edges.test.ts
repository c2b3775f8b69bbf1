/**
 * The edges of src/units.ts that test/units.test.ts leaves open (mutation round 18): where each unit of a
 * size, a byte count, a rate and a duration begins, decimal against binary units, and what a parse refuses.
 */
import { expect, test } from "bun:test";
import {
  decimalSizeNote,
  formatBytes,
  formatDuration,
  formatRate,
  formatSizeFlag,
  parseDuration,
  parseSize,
  plural,
  shownNumber,
} from "../src/units.ts";

test("a size's largest count is 2^53 - 1 bytes, taken; 8192 TiB (2^53) is larger than ivsh can use", () => {
  expect(parseSize(String(Number.MAX_SAFE_INTEGER), "--size")).toBe(Number.MAX_SAFE_INTEGER);
  expect(() => parseSize("8192TiB", "--size")).toThrow(
    "it is larger than any size ivsh can use (under 8 PiB: at most 2^53 - 1 bytes)",
  );
});

test("kB, MB, GB and TB count in 1000s; k, KiB and their kin in 1024s", () => {
  expect(parseSize("64kB", "--size")).toBe(64_000);
  expect(parseSize("10MB", "--size")).toBe(10_000_000);
  expect(parseSize("2GB", "--size")).toBe(2_000_000_000);
  expect(parseSize("1TB", "--size")).toBe(1e12);
  expect(parseSize("4k", "--size")).toBe(4096);
  expect(parseSize("4KiB", "--size")).toBe(4096);
  expect(parseSize(" 2 GiB ", "--size")).toBe(2 * 1024 ** 3);
});

test("a size followed by more words or signs is refused, not read up to its unit", () => {
  for (const text of ["4k 5", "4KiB/s", "64MiB,", "1 2"])
    expect(() => parseSize(text, "--size")).toThrow(
      `Failed to parse --size '${text}' since it is not a size like`,
    );
});

test("a decimal size gets a note of what it comes to; a binary one, or a bare number, none", () => {
  expect(decimalSizeNote("10MB")).toBe(
    "10MB is 10000000 bytes (kB, MB, GB and TB count in 1000s; KiB, MiB, GiB and TiB in 1024s)",
  );
  for (const text of ["10MiB", "64KiB", "4096", "4k", undefined]) expect(decimalSizeNote(text)).toBe("");
});

test("a size flag's value is exact: a size that is no whole number of KiB stays in bytes", () => {
  expect(formatSizeFlag(1536)).toBe("1536");
  expect(formatSizeFlag(3 << 29)).toBe("1536MiB");
  expect(formatSizeFlag(2 * 1024 ** 3)).toBe("2GiB");
  expect(formatSizeFlag(4096)).toBe("4KiB");
  expect(formatSizeFlag(1000)).toBe("1000");
});

test("a number given from code is a duration in seconds", () => {
  expect(parseDuration(5, "timeoutMs")).toBe(5000);
  expect(parseDuration(0.25, "timeoutMs")).toBe(250);
});

test("a second and more read in seconds, from 1000 ms on", () => {
  expect(formatDuration(999)).toBe("999 ms");
  expect(formatDuration(1000)).toBe("1 s");
  expect(formatDuration(1500)).toBe("1.5 s");
});

test("a byte count takes the next unit from 1024 on, two decimals below 10 and one from 10", () => {
  expect(formatBytes(1023)).toBe("1023 B");
  expect(formatBytes(1024)).toBe("1.00 KiB");
  expect(formatBytes(1 << 20)).toBe("1.00 MiB");
  expect(formatBytes(10 * 1024)).toBe("10.0 KiB");
  expect(formatBytes(9.5 * 1024)).toBe("9.50 KiB");
  expect(formatBytes(2 ** 50)).toBe("1024.0 TiB"); // no unit past TiB
});

test("a rate reads in MB/s from 0.1 MB/s, with a decimal below 100 MB/s", () => {
  expect(formatRate(1e5)).toBe("0.1 MB/s");
  expect(formatRate(99_999)).toBe("100.0 kB/s");
  expect(formatRate(5e7)).toBe("50.0 MB/s");
  expect(formatRate(99.9e6)).toBe("99.9 MB/s");
  expect(formatRate(1e8)).toBe("100 MB/s");
  expect(formatRate(1e9)).toBe("1.00 GB/s");
});

test("a count of none is plural, as any count but one", () => {
  expect(plural(0, "grant")).toBe("0 grants");
  expect(plural(1, "grant")).toBe("1 grant");
  expect(plural(2, "block")).toBe("2 blocks");
});

// Mutation round 32 (shownNumber): the edges of its two forms.
test("a whole number is shown exactly below 1e21, from 1e21 (and below -1e21) as String() writes it", () => {
  expect(shownNumber(2 ** 67)).toBe("147573952589676412928"); // String(): 147573952589676410000
  expect(shownNumber(-(2 ** 67))).toBe("-147573952589676412928");
  expect(shownNumber(1e21)).toBe("1e+21");
  expect(shownNumber(-1e300)).toBe("-1e+300");
  expect(shownNumber(-0.5)).toBe("-0.5");
});
