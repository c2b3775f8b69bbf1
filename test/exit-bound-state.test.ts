/**
 * A process that outlives its exit bound is killed, and the error says what /proc showed it doing just
 * before: a hang that printed nothing (a receiver waiting, in one CI run) then still tells stopped from
 * asleep from spinning.
 */
import { expect, test } from "bun:test";
import { spawnBun } from "./helpers/processes.ts";

const IDLE = ["-e", "setInterval(() => {}, 1000)"];

test("a late process asleep in its event loop is said to be sleeping, and where", async () => {
  const idle = spawnBun(IDLE);
  await Bun.sleep(300); // past its start
  const error = await idle.exit(200).catch((thrown: Error) => thrown);
  expect(String(error)).toMatch(/did not exit within 200 ms \(killed it; it was S \(sleeping\) in \w+\)/);
});

test("a late process stopped (SIGSTOP) is said to be stopped", async () => {
  const stopped = spawnBun(IDLE);
  stopped.proc.kill("SIGSTOP");
  await Bun.sleep(100);
  const error = await stopped.exit(200).catch((thrown: Error) => thrown);
  expect(String(error)).toContain("(killed it; it was T (stopped)");
});
