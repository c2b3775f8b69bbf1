/**
 * How fast a client retries a dropped arbiter: through a VM's TCP path every attempt starts an `ivsh
 * bridge` on the host, so a guest backs off further than a host process, within a quarter of its lease.
 */
import { expect, test } from "bun:test";
import { longestRetryPauseMs } from "../src/guest/resume-tries.ts";

test("a host client retries every 250 ms at most; a guest's pauses grow to 2 s, or a quarter lease if less", () => {
  const host = { unix: "/nonexistent.sock" };
  const guest = { hostname: "10.0.2.100", port: 7777 };
  expect(longestRetryPauseMs(host, 60_000)).toBe(250);
  expect(longestRetryPauseMs(guest, 60_000)).toBe(2000);
  expect(longestRetryPauseMs(guest, 5000)).toBe(1250);
  // Never below the host's pace: a short lease's restored session still gets several tries.
  expect(longestRetryPauseMs(guest, 1000)).toBe(250);
});
