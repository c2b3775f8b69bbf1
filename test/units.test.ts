/** How sizes and rates read: a few bytes sent in a millisecond were "0.0 MB/s" (an operator trial). */
import { expect, test } from "bun:test";
import { formatDuration, formatRate, formatWait, parseDuration, parseSize } from "../src/units.ts";

test("rates read in GB/s, MB/s, or kB/s below 0.1 MB/s, never as zero", () => {
  expect(formatRate(12.3e9)).toBe("12.30 GB/s");
  expect(formatRate(450e6)).toBe("450 MB/s");
  expect(formatRate(1.9e6)).toBe("1.9 MB/s");
  expect(formatRate(10_000)).toBe("10.0 kB/s");
  expect(formatRate(400)).toBe("0.4 kB/s");
});

test("a size too large to count is called that, not 'not a whole number'; a fraction of a byte still is", () => {
  expect(() => parseSize("99999999TiB", "--size")).toThrow(
    "Failed to parse --size '99999999TiB' since it is larger than any size ivsh can use (under 8 PiB: at most 2^53 - 1 bytes)",
  );
  expect(() => parseSize("1.5", "--size")).toThrow("it is not a whole number of bytes");
  expect(parseSize("1.5KiB", "--size")).toBe(1536);
});

test("a duration takes its unit (ms, s, m, h); a bare number, seconds or milliseconds to different readers, is refused", () => {
  expect(parseDuration("250ms", "--lease")).toBe(250);
  expect(parseDuration("5s", "--lease")).toBe(5000);
  expect(parseDuration("1.5s", "--lease")).toBe(1500);
  expect(parseDuration("2m", "--lease")).toBe(120_000);
  expect(parseDuration("1h", "--lease")).toBe(3_600_000);
  expect(parseDuration("0", "--lease")).toBe(0); // zero in any unit: the caller's range says what it takes
  // `--lease 500` was 500 s (8 min 20 s), not the 500 ms its writer may have meant.
  expect(() => parseDuration("500", "--lease")).toThrow(
    "Failed to parse --lease '500' since it has no unit: write one, e.g. 500ms or 500s (units: ms, s, m for minutes, h)",
  );
  expect(() => parseDuration("5 sec", "--timeout")).toThrow(
    "Failed to parse --timeout '5 sec' since it is not a duration like 5s or 250ms (units: ms, s, m for minutes, h)",
  );
});

test("a duration of a minute or more reads in minutes and seconds, from 60 s on", () => {
  expect(formatDuration(59_999)).toBe("59.999 s");
  expect(formatDuration(60_000)).toBe("1 min 0 s");
  expect(formatDuration(60_500)).toBe("1 min 0 s");
  expect(formatDuration(3_600_000)).toBe("1 h 0 min");
});

// Left open by an earlier session: `ivsh host --lease 2147483647ms` (the longest a timer waits) started
// "with a 596 h 31 min lease", and `ivsh status` says "up 1000 h 0 min" of an arbiter up six weeks.
test("a duration of a day or more reads in days and hours", () => {
  expect(formatDuration(86_399_999)).toBe("23 h 59 min");
  expect(formatDuration(86_400_000)).toBe("1 d 0 h");
  expect(formatDuration(2 ** 31 - 1)).toBe("24 d 20 h");
  expect(formatDuration(1000 * 3_600_000)).toBe("41 d 16 h");
});

test("what is left of a wait reads rounded up to a tenth of a second: 2973 ms left is 3 s, never less than is left", () => {
  expect(formatWait(2973)).toBe("3 s");
  expect(formatWait(1901)).toBe("2 s");
  expect(formatWait(1)).toBe("100 ms");
});
