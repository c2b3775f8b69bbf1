/**
 * The short version of `ivsh bench --scale`: many clients in separate processes, thousands of live
 * allocations, the request mix, then the arbiter killed with SIGKILL and restarted under them. Speed is
 * the benchmark's business; this checks that the run completes and that nothing is lost.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { ScaleResult } from "../src/bench/scale.ts";
import { SCALE_OPS } from "../src/bench/scale-worker.ts";
import { testPaths } from "./helpers/paths.ts";
import { runCli } from "./helpers/processes.ts";

test("bench --scale --quick: every session and segment survives kill -9 of a loaded arbiter", async () => {
  const paths = testPaths("scale");
  try {
    const json = `${paths.dir}/scale.json`;
    const run = await runCli(["bench", "--scale", "--quick", "--json", json]);
    expect(run.stderr).not.toContain("Failed");
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/^\| all +\| +\d+ \|/m);
    const result = JSON.parse(readFileSync(json, "utf8")) as ScaleResult;
    for (const op of SCALE_OPS) expect(result.latencyNs[op].count).toBeGreaterThan(0);
    expect(result.probeLatencyNs.all.count).toBeGreaterThan(0);
    expect(result.floorLatencyNs.count).toBeGreaterThan(0);
    expect(run.stdout).toMatch(/^\| floor: a bare Bun echo server.* \| +\d+ \|/m);
    const { restart } = result;
    expect(restart.epochs[1]).toBe(restart.epochs[0] + 1);
    expect(restart.segments[1]).toBe(restart.segments[0]);
    expect(restart.segments[0]).toBeGreaterThanOrEqual(result.plan.allocations);
    expect(restart.clientsResumed).toBe(result.clientsConnected);
    expect(restart.segmentsMissing).toBe(0);
    expect(result.journalBytes.end).toBeGreaterThan(0);
    expect(result.arbiterKiB.end.anon).toBeGreaterThan(0);
  } finally {
    paths.cleanup();
  }
}, 120_000);
