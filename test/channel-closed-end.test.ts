/**
 * A channel end used after its own close(), its client still open. The sender's close() frees the ring:
 * a write() after it copied into the freed ring and the process died of SIGSEGV (the fault blamed on the
 * program); a receive() after the receiver's close() said the region was overwritten (RegionCorrupted).
 * A write or receive parked when close() ran went on into the freed ring too. Now each is refused with
 * NotHeld, saying the end was closed, as is the call whose own callback closed its end. Each case runs in a
 * process of its own: the old fault killed it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, spawnFixture } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("closed-end");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

const closedSender = /send on channel '.*' since this sender was closed \(open a new ChannelSender/;
const closedReceiver = /receive on channel '.*' since this receiver was closed \(open a new ChannelReceiver/;

test.each([
  ["send-after", ["write", "send", "flush", "finish"], closedSender],
  ["recv-after", ["receive"], closedReceiver],
  ["send-pending", ["write"], closedSender],
  ["recv-pending", ["receive"], closedReceiver],
  ["send-inside", ["send"], closedSender],
  ["recv-inside", ["receive"], closedReceiver],
] as const)(
  "a channel end closed by its own program (%s): its calls fail NotHeld, not a fault or 'region overwritten'",
  async (which, calls, message) => {
    const child = spawnFixture(
      "closed-end",
      clientConfig(paths, { case: which, channel: `closed-${which}` }),
    );
    try {
      for (const call of calls) {
        const ended = await child.events.next("call");
        expect(ended).toMatchObject({ call, ok: false, code: "NotHeld" });
        expect(String(ended.message)).toMatch(message);
      }
      await child.events.next("done");
      expect({ exitCode: await child.exit(), signal: child.proc.signalCode }).toEqual({
        exitCode: 0,
        signal: null,
      });
    } finally {
      child.proc.kill("SIGKILL");
    }
  },
  60_000,
);
