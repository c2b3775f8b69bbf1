/**
 * A short run of the fault-injection soak (test/soak/main.ts) with a fixed seed: random transfers, lock
 * workloads and region scribbles with faults injected into real processes, the failure model checked
 * after each. The long runs behind the README's reliability figures use the same command.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { REPO } from "./helpers/paths.ts";
import { spawnBun } from "./helpers/processes.ts";

const SOAK_SECONDS = 30;
const SEED = 42;

test(`a ${SOAK_SECONDS} s soak (seed ${SEED}) finds no violation`, async () => {
  const run = spawnBun([
    join(REPO, "test/soak/main.ts"),
    "--seconds",
    String(SOAK_SECONDS),
    "--seed",
    String(SEED),
  ]);
  // A scenario started just before the time is up runs to its end: allow a few long ones after it.
  const code = await run.exit(SOAK_SECONDS * 1000 + 120_000);
  await run.events.finished;
  const lines = run.events.lines;
  const summary = lines.at(-1) ?? "";
  const report = `${run.events.text}\n${await run.stderr}`;
  expect(summary, report).toMatch(/^soak: [1-9]\d* scenarios, \d+ faults injected, 0 violations$/);
  expect(code, report).toBe(0);
}, 200_000);
