/**
 * runDemo (src/demo/demo.ts) run in this process, its children this process's: the seconds it reports
 * for ivsh are the receiver's, and an interruption stops the children even where they would never end
 * by themselves (here: stopped with SIGSTOP, so only the SIGKILL after the grace ends them).
 */
import { expect, test } from "bun:test";
import { LEAST_DEMO_BYTES, runDemo } from "../src/demo/demo.ts";

test("ivsh's seconds are its transfer's: no more than from the demo's first note to its round's note", async () => {
  const noted: { message: string; at: number }[] = [];
  const { ivsh } = await runDemo({
    bytes: LEAST_DEMO_BYTES,
    rounds: 1,
    note: (message) => noted.push({ message, at: performance.now() }),
  });
  const round = noted.find(({ message }) => message.startsWith("round 1: ivsh"));
  expect(round).toBeDefined();
  expect(ivsh.seconds).toHaveLength(1);
  expect(ivsh.seconds[0]).toBeGreaterThan(0);
  // The transfer ran inside this span (it also holds the file's writing and the arbiter's start).
  expect(ivsh.seconds[0]! * 1000).toBeLessThanOrEqual(round!.at - noted[0]!.at);
});

function transferringChildren(): number[] {
  const found = Bun.spawnSync(["pgrep", "-P", String(process.pid), "-f", "guest (send|recv)"]);
  return found.stdout.toString().split("\n").filter(Boolean).map(Number);
}

test("an abort ends the demo's children even when they are stopped, and the demo with it", async () => {
  const controller = new AbortController();
  const demo = runDemo({
    bytes: 256 * LEAST_DEMO_BYTES,
    rounds: 1,
    signal: controller.signal,
    note: () => {},
  });
  const outcome = demo.then(
    () => "finished",
    (error: Error) => error.message,
  );
  let stopped: number[] = [];
  while (stopped.length < 2) {
    stopped = transferringChildren();
    if ((await Promise.race([outcome, Bun.sleep(10)])) !== undefined) break;
  }
  for (const pid of stopped) process.kill(pid, "SIGSTOP");
  controller.abort();
  const late = Bun.sleep(30_000).then(() => "still waiting for its stopped children after 30 s");
  const ended = await Promise.race([outcome, late]);
  for (const pid of transferringChildren()) process.kill(pid, "SIGKILL");
  expect(ended).not.toContain("30 s");
  expect(ended).not.toBe("finished");
}, 60_000);
