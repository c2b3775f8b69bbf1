/**
 * The benchmark's worker processes get `--flag value` pairs for what they need, nothing more. The lock,
 * hand-off and condvar workers got the whole BenchArbiter spread into theirs: `--spec [object Object]`,
 * `--command` with the arbiter's argv, `--child [object Object]` and the source of two functions.
 */
import { expect, test } from "bun:test";
import { BenchArbiter } from "../../src/bench/arbiter.ts";
import { benchPlan } from "../../src/bench/plan.ts";
import type { SuiteRun } from "../../src/bench/suite-data.ts";
import { measureLockPairs } from "../../src/bench/sync-rounds.ts";

test("a lock worker's command line holds only the flags it reads", async () => {
  const plan = { ...benchPlan({ quick: true, vm: false }), lockPairs: 10 };
  const commands: string[][] = [];
  const spawn = Bun.spawn;
  // Every command this process starts, as it starts it (the worker's argv, without racing `ps`).
  Bun.spawn = ((command: string[], options: never) => {
    commands.push([...command]);
    return spawn(command, options);
  }) as typeof Bun.spawn;
  try {
    await BenchArbiter.with({ label: "argv test", regionBytes: 8 << 20 }, async (shm) => {
      const data = { locks: { fast: [], try: [], rpc: [] } };
      await measureLockPairs({ plan, shm, disk: shm, data } as unknown as SuiteRun, 0);
    });
  } finally {
    Bun.spawn = spawn;
  }
  const worker = commands.find((command) => command.includes("bench-worker"));
  expect(worker).toBeDefined();
  const flags = worker!.slice(worker!.indexOf("locks") + 1).filter((word) => word.startsWith("--"));
  expect(flags.sort()).toEqual(["--name", "--pairs", "--region", "--round", "--socket"]);
}, 120_000);
