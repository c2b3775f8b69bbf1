/**
 * How long a waiter spins before it parks (src/guest/parking.ts, `ParkSite`): four times how long recent
 * waits lasted, at least 10 µs and at most 60 µs, and a token 1 µs once they lasted longer than spinning
 * is worth, so a waiter that will wait long parks soon and leaves the core to its peer. One very long wait
 * counts as 240 µs at most, so the estimate comes back after a few short waits. The arithmetic alone:
 * nothing here is timed.
 */
import { expect, test } from "bun:test";
import { type ParkingClient, ParkSite } from "../src/guest/parking.ts";
import { computeGeometry, PARKABLE_WORDS } from "../src/region/layout.ts";

function site(): ParkSite {
  const geometry = computeGeometry(1 << 20, 4096, 8);
  const client = { geometry } as unknown as ParkingClient;
  return new ParkSite(client, 1, PARKABLE_WORDS[0]!);
}

test("the spin budget follows recent waits, between 10 and 60 µs, and is a token 1 µs past 60 µs", () => {
  const each = site();
  expect(each.spinBudgetNs()).toBe(60_000); // a first wait: half of 60 µs estimated, four times that capped
  for (const [recentNs, budgetNs] of [
    [1_000, 10_000],
    [2_500, 10_000],
    [5_000, 20_000],
    [15_000, 60_000],
    [60_000, 60_000],
    [60_001, 1_000],
  ]) {
    each.recentWaitNs = recentNs!;
    expect([recentNs, each.spinBudgetNs()]).toEqual([recentNs, budgetNs]);
  }
});

test("a wait is taken in at a quarter's weight, a very long one as 240 µs", () => {
  const each = site();
  each.recentWaitNs = 40_000;
  each.record(0);
  expect(each.recentWaitNs).toBe(30_000);
  each.recentWaitNs = 40_000;
  each.record(10_000_000_000); // ten seconds
  expect(each.recentWaitNs).toBe(40_000 + (240_000 - 40_000) / 4);
});
