/**
 * A receiver's --timeout waits for the join of a transfer published and not yet joined (a8aa0cd9): its
 * sender is there. But the receiver parks on the `transfer` word alone, and another guest (IVSHMEM
 * isolates nothing) can make a transfer look published without changing that word: here `state` set to
 * streaming under a transfer number already there. The limit then waited for a join that the parked
 * receiver never made, for ever past the user's --timeout.
 */
import { expect, test } from "bun:test";
import { fetchStatus } from "../src/guest/inspect.ts";
import { ChannelState, ChannelWord, computeGeometry, slotWordIndex } from "../src/region/layout.ts";
import { mapRegionFile } from "../src/region/mapping.ts";
import { testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, exitOrKill, livenessBoundMs } from "./helpers/processes.ts";
import { guestSaying, outPath } from "./helpers/transfer.ts";

const LIMIT_MS = 2000;
const WITHIN_MS = livenessBoundMs(LIMIT_MS);

test("a transfer made to look published under a parked receiver ends its wait at its --timeout, not never", async () => {
  const own = testPaths("recv-limit-forged");
  const host = await ArbiterProcess.start(own, { size: "16MiB", lease: "20s" });
  const channel = "forged";
  const receiver = guestSaying(own, [
    "recv",
    "--channel",
    channel,
    "--out",
    outPath(own, "forged.out"),
    "--timeout",
    `${LIMIT_MS / 1000}s`,
  ]);
  const region = mapRegionFile(own.region);
  try {
    const { report } = await fetchStatus({ unix: own.socket });
    const geometry = computeGeometry(report.region.size, report.region.blockSize, report.region.slotCount);
    const words = new Int32Array(region.bytes(0, geometry.dataOffset).buffer);
    let slot = -1;
    const parked = async () => {
      const found = (await fetchStatus({ unix: own.socket })).report.sync.find(
        (object) => object.name === `channel:${channel}` && object.waiters > 0,
      );
      slot = found?.slot ?? -1;
      return found !== undefined;
    };
    await eventually(parked, WITHIN_MS, "the receiver parked on its channel");
    const index = (name: keyof typeof ChannelWord) => slotWordIndex(geometry, slot, ChannelWord[name]);
    // A transfer number, idle: nothing to join, the receiver parks again on that number.
    Atomics.store(words, index("transfer"), 77);
    await Bun.sleep(LIMIT_MS / 4);
    // Streaming under the same number, never joined: the `transfer` word the receiver parks on is unchanged.
    Atomics.store(words, index("state"), ChannelState.streaming);
    // Before: ["late", ""] (still waiting 14 s on, killed). It joins it now, and finds no sender there.
    const code = await exitOrKill(receiver.proc, WITHIN_MS);
    expect([code, receiver.said.text]).toEqual([
      1,
      expect.stringMatching(
        /Failed to receive on channel 'forged' since the sender went away before we joined/,
      ),
    ]);
  } finally {
    receiver.proc.kill("SIGKILL");
    region.close();
    await host.stop();
    own.cleanup();
  }
}, 60_000);
