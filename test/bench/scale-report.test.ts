/**
 * The scale benchmark's verdict on its p99 goal, from the result kept in docs/bench/scale.json: it names
 * the floor measured in the same run, and says so when the floor alone missed the goal (a noisy machine
 * that hour), so a FAIL is not read as the arbiter's alone.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import type { ScaleResult } from "../../src/bench/scale.ts";
import { scaleVerdicts } from "../../src/bench/scale-report.ts";

const kept = (await Bun.file(join(import.meta.dir, "../../docs/bench/scale.json")).json()) as ScaleResult;

function p99Verdict(floorP99Ns: number) {
  const result = { ...kept, floorLatencyNs: { ...kept.floorLatencyNs, p99: floorP99Ns } };
  return scaleVerdicts(result).find((verdict) => verdict.name.startsWith("RPC p99"))!;
}

test("a floor under the goal: the verdict gives the ratio to it and nothing more", () => {
  const verdict = p99Verdict(169_000);
  expect(verdict.detail).toContain("the bare echo server's 0.169 ms in the same run");
  expect(verdict.detail).not.toContain("echo server alone");
});

test("a floor above the goal: the verdict says the echo server alone missed it", () => {
  const verdict = p99Verdict(1_330_000);
  expect(verdict.passed).toBe(false);
  expect(verdict.detail).toContain(
    "1.330 ms in the same run; the echo server alone missed the 1 ms goal in this run",
  );
});

/** The verdict named `name` on the kept result with `change` applied. */
function verdictOn(name: string, change: (result: ScaleResult) => ScaleResult) {
  return scaleVerdicts(change(structuredClone(kept))).find((verdict) => verdict.name.startsWith(name))!;
}

test("the p99 goal judges the probe process's p99, not the load workers'", () => {
  const withP99s = (probeMs: number, loadMs: number) => (result: ScaleResult) => {
    result.probeLatencyNs.all.p99 = probeMs * 1e6;
    result.latencyNs.all.p99 = loadMs * 1e6;
    return result;
  };
  const met = verdictOn("RPC p99", withP99s(0.5, 3));
  expect(met.passed).toBe(true);
  expect(met.detail).toStartWith("0.500 ms for a ");
  expect(verdictOn("RPC p99", withP99s(1.5, 0.5)).passed).toBe(false);
});

test("the restart goal: answered within 2 s passes, later misses", () => {
  const answeredIn = (seconds: number) => (result: ScaleResult) => {
    result.restart.answeredSeconds = seconds;
    return result;
  };
  expect(verdictOn("restart after kill -9", answeredIn(1.9)).passed).toBe(true);
  expect(verdictOn("restart after kill -9", answeredIn(2.1)).passed).toBe(false);
});

test("state intact: every segment back, a new epoch, no grant missing, every session resumed", () => {
  const intact = (change: (result: ScaleResult) => void) =>
    verdictOn("state intact", (result) => {
      change(result);
      return result;
    }).passed;
  expect(intact(() => {})).toBe(true);
  expect(
    intact((result) =>
      Object.assign(result.restart, {
        segments: [result.restart.segments[0], result.restart.segments[0] - 1],
      }),
    ),
  ).toBe(false);
  expect(
    intact((result) =>
      Object.assign(result.restart, { epochs: [result.restart.epochs[0], result.restart.epochs[0]] }),
    ),
  ).toBe(false);
  expect(intact((result) => Object.assign(result.restart, { segmentsMissing: 1 }))).toBe(false);
  expect(
    intact((result) => Object.assign(result.restart, { clientsResumed: result.clientsConnected - 1 })),
  ).toBe(false);
});
