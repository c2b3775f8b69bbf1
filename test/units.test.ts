/** How rates read in summaries: a few bytes sent in a millisecond were "0.0 MB/s" (an operator trial). */
import { expect, test } from "bun:test";
import { formatRate } from "../src/units.ts";

test("rates read in GB/s, MB/s, or kB/s below 0.1 MB/s, never as zero", () => {
  expect(formatRate(12.3e9)).toBe("12.30 GB/s");
  expect(formatRate(450e6)).toBe("450 MB/s");
  expect(formatRate(1.9e6)).toBe("1.9 MB/s");
  expect(formatRate(10_000)).toBe("10.0 kB/s");
  expect(formatRate(400)).toBe("0.4 kB/s");
});
