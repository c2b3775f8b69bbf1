/**
 * What the host's log shows while guests wait for an arbiter that is not running (restarting: its socket
 * gone, or a dead one's left behind). A guest whose session rides out the restart tries again about once
 * a second, each try through a bridge process of its own, and each bridge logged an ERROR, the flood
 * 02e0c46 ended for a full accept queue. Now the bridges of one socket log the first refusal of such an
 * episode (an ERROR: the arbiter may never come), count the rest, and the first to get through again says
 * how many were refused.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { bridgeTry } from "./helpers/bridge-try.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess | undefined;

beforeAll(() => {
  paths = testPaths("bridge-absent");
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

/** One guest's try: an `ivsh bridge` relaying through pipes (its guest leaves at once); its stderr lines. */
async function bridgeSays(): Promise<string[]> {
  const { stderr } = await bridgeTry(paths.socket, paths.dir, "waiting-vm");
  return stderr.split("\n").filter((line) => line !== "");
}

test("bridges finding no arbiter log one error per episode, and the one that gets through counts them", async () => {
  const tries = [await bridgeSays(), await bridgeSays(), await bridgeSays()];
  expect(tries[0]).toEqual([
    expect.stringContaining(`ERROR Failed to reach the arbiter for VM 'waiting-vm'`),
  ]);
  expect(tries[0]![0]).toContain(`found none on ${paths.socket}`);
  expect(tries.slice(1)).toEqual([[], []]);
  arbiter = await ArbiterProcess.start(paths);
  const reached = await bridgeSays();
  expect(reached).toEqual([
    expect.stringMatching(
      /accepts connections again: 3 guest connection\(s\) were refused over .* since no arbiter ran there$/,
    ),
  ]);
  expect(await bridgeSays()).toEqual([]); // the episode is over: nothing more to say
}, 60_000);
