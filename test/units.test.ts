/** How sizes and rates read: a few bytes sent in a millisecond were "0.0 MB/s" (an operator trial). */
import { expect, test } from "bun:test";
import { formatRate, parseSize } from "../src/units.ts";

test("rates read in GB/s, MB/s, or kB/s below 0.1 MB/s, never as zero", () => {
  expect(formatRate(12.3e9)).toBe("12.30 GB/s");
  expect(formatRate(450e6)).toBe("450 MB/s");
  expect(formatRate(1.9e6)).toBe("1.9 MB/s");
  expect(formatRate(10_000)).toBe("10.0 kB/s");
  expect(formatRate(400)).toBe("0.4 kB/s");
});

test("a size too large to count is called that, not 'not a whole number'; a fraction of a byte still is", () => {
  expect(() => parseSize("99999999TiB", "--size")).toThrow(
    "Failed to parse --size '99999999TiB' since it is larger than any size ivsh can use (8 PiB)",
  );
  expect(() => parseSize("1.5", "--size")).toThrow("it is not a whole number of bytes");
  expect(parseSize("1.5KiB", "--size")).toBe(1536);
});
