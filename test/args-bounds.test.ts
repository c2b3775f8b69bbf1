/**
 * The bounds of the flags shared by the commands (src/commands/_args.ts), each at its edge: the longest
 * --channel name, --timeout's least, and the longest duration a timer can wait. A value past a bound is a
 * usage error (exit 2) naming the flag; one at it is taken.
 */
import { expect, test } from "bun:test";
import { channelName, durationWithin, peerWaitMs } from "../src/commands/_args.ts";
import { UsageError } from "../src/commands/_strict.ts";
import { MAX_CHANNEL_NAME_BYTES } from "../src/transfer/slot.ts";
import { LONGEST_TIMER_MS } from "../src/units.ts";

function usageError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return String(error);
  }
  throw new Error("it was taken");
}

test(`a --channel name of exactly ${MAX_CHANNEL_NAME_BYTES} bytes is taken; one byte more is refused`, () => {
  const longest = "c".repeat(MAX_CHANNEL_NAME_BYTES);
  expect(channelName(longest)).toBe(longest);
  expect(usageError(() => channelName(`${longest}c`))).toContain(
    `it is ${MAX_CHANNEL_NAME_BYTES + 1} bytes: a channel name is 1 to ${MAX_CHANNEL_NAME_BYTES} bytes`,
  );
});

test("--timeout takes 1ms, its least; 0ms is refused, not a wait that gives up at once", () => {
  expect(peerWaitMs("1ms")).toBe(1);
  expect(usageError(() => peerWaitMs("0ms"))).toContain("it is shorter than 1ms, the least --timeout takes");
});

test("a duration flag takes the longest a timer can wait; one millisecond more is refused", () => {
  const least = { ms: 1, text: "1ms", why: "test" };
  expect(durationWithin(`${LONGEST_TIMER_MS}ms`, "--lease", least)).toBe(LONGEST_TIMER_MS);
  expect(usageError(() => durationWithin(`${LONGEST_TIMER_MS + 1}ms`, "--lease", least))).toContain(
    "the longest a timer can wait",
  );
});
