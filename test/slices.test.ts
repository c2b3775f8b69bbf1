/**
 * The arbiter's own work in slices (src/host/slices.ts): it lets the event loop answer requests between
 * slices, runs to its end, and stops when told. The clock is a counter, so the test does not depend on
 * how fast this machine is; that the sweep no longer holds requests is the scale benchmark's to measure.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { runAtOnce, runInSlices } from "../src/host/slices.ts";

/** Work of `items` steps that records, at each step, how many event-loop turns had run by then. */
function* counted(items: number, turns: () => number, seen: number[]): Generator<void, string> {
  for (let item = 0; item < items; item++) {
    seen.push(turns());
    yield;
  }
  return "done";
}

/** Counts macrotasks: each turn schedules the next until stopped. */
function eventLoopTurns() {
  let turns = 0;
  let going = true;
  const turn = () => {
    turns++;
    if (going) setImmediate(turn);
  };
  setImmediate(turn);
  return { count: () => turns, stop: () => (going = false) };
}

/** A clock that moves on by `stepMs` each time it is read. */
function steppingClock(stepMs: number): () => number {
  let now = 0;
  return () => (now += stepMs);
}

test("work longer than a slice lets the event loop run between slices and returns its result", async () => {
  const loop = eventLoopTurns();
  const seen: number[] = [];
  const result = await runInSlices(counted(6, loop.count, seen), {
    stopped: () => false,
    sliceMs: 1,
    now: steppingClock(1),
  });
  loop.stop();
  expect(result).toBe("done");
  expect(seen).toHaveLength(6);
  // Every step used up a slice, so the event loop ran before each next one.
  for (let step = 1; step < seen.length; step++) expect(seen[step]!).toBeGreaterThan(seen[step - 1]!);
});

test("work within one slice runs without letting the event loop in", async () => {
  const loop = eventLoopTurns();
  const seen: number[] = [];
  const result = await runInSlices(counted(50, loop.count, seen), {
    stopped: () => false,
    sliceMs: 1_000_000,
    now: steppingClock(1),
  });
  loop.stop();
  expect(result).toBe("done");
  expect(new Set(seen)).toEqual(new Set([seen[0]!]));
});

test("work stops at the first slice boundary after it is told to, without its result", async () => {
  const seen: number[] = [];
  let stopped = false;
  const work = counted(10, () => 0, seen);
  const running = runInSlices(work, { stopped: () => stopped, sliceMs: 1, now: steppingClock(1) });
  stopped = true; // before the first yield to the event loop is over
  expect(await running).toBeUndefined();
  expect(seen).toHaveLength(1);
});

test("runAtOnce runs the same work to its end without yielding", () => {
  const seen: number[] = [];
  expect(runAtOnce(counted(40, () => 7, seen))).toBe("done");
  expect(seen).toEqual(Array(40).fill(7));
});

/**
 * The sweep runs its steps with eachOnItsOwn: one that threw (a look at REGION.wake in a directory made
 * unsearchable, 35cc124d) skipped every later step at every sweep, lease expiry among them. In a process
 * of its own, as the arbiter runs it: the step after the throwing one runs, and the error still reaches the
 * process's uncaught-exception handler (reported as a bug, as before), after the steps.
 */
test("eachOnItsOwn runs every step when one throws, and reports the error as uncaught after them", () => {
  const script = [
    `import { eachOnItsOwn } from ${JSON.stringify(join(import.meta.dir, "../src/host/slices.ts"))};`,
    `process.on("uncaughtException", (error) => console.log("reported: " + error.message));`,
    `eachOnItsOwn([() => console.log("first"), () => { throw new Error("second threw"); }, () => console.log("third")]);`,
    `console.log("after the steps");`,
  ].join("\n");
  const run = Bun.spawnSync([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
  expect({ out: run.stdout.toString(), err: run.stderr.toString() }).toEqual({
    out: "first\nthird\nafter the steps\nreported: second threw\n",
    err: "",
  });
});
