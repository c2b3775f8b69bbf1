/**
 * How the benchmark's outputs say their failures (src/commands/_bench-outputs.ts): each attempted whatever
 * became of the others, every failure but the last printed, the last thrown (and printed by the CLI).
 * `ivsh bench --scale --vm` writes two tables to stdout, the scale run's and, minutes later, the guest
 * connections': on a full stdout both failed alike, and "Failed to write the output to stdout since no
 * space left on device" came twice. Tested here on the printing path itself, without the VMs that path
 * needs in a real run (2–2.5 min of boots).
 */
import { afterEach, expect, spyOn, test } from "bun:test";
import { eachOutput } from "../../src/commands/_bench-outputs.ts";
import { failure } from "../../src/errors.ts";
import { log } from "../../src/log.ts";

const spies: { mockRestore(): void }[] = [];
afterEach(() => {
  for (const spy of spies.splice(0)) spy.mockRestore();
});

/** What writeStandard throws for each table on a full stdout: a new error each time, worded alike. */
const fullStdout = () => {
  throw failure("SystemCall", "write the output to stdout", "no space left on device");
};

/** Runs the attempts in order and settles them: what was printed, and what was thrown. */
async function settled(writes: (() => unknown)[]): Promise<{ printed: string[]; thrown: unknown }> {
  const errors = spyOn(log, "error").mockImplementation(() => {});
  spies.push(errors);
  const outputs = eachOutput();
  for (const write of writes) await outputs.attempt(write);
  let thrown: unknown;
  try {
    outputs.settle();
  } catch (error) {
    thrown = error;
  }
  return { printed: errors.mock.calls.map((call) => String(call[0])), thrown };
}

test("--scale --vm's two tables on a full stdout: the failure is said once (thrown), not printed as well", async () => {
  // The scale run's table, the guest measurement (fine), the guests' table, the --json (fine).
  const { printed, thrown } = await settled([fullStdout, () => {}, fullStdout, async () => {}]);
  expect(String(thrown)).toContain("Failed to write the output to stdout since no space left on device");
  expect(printed).toEqual([]);
});

test("failures that differ are each said: the earlier printed, the last thrown", async () => {
  const fullDisk = () => {
    throw failure("NoSpace", "write /results/run.json", "no space left on device");
  };
  const { printed, thrown } = await settled([fullStdout, fullDisk, fullStdout]);
  expect(printed).toEqual([String(failure("NoSpace", "write /results/run.json", "no space left on device"))]);
  expect(String(thrown)).toContain("Failed to write the output to stdout");
});

test("no failure: nothing said, nothing thrown", async () => {
  const { printed, thrown } = await settled([() => {}, async () => {}]);
  expect(printed).toEqual([]);
  expect(thrown).toBeUndefined();
});
