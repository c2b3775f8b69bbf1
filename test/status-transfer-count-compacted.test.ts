/**
 * An arbiter restarted from a compacted journal counts a transfer in progress at its first status, before
 * any sweep: the channel is found by its ring, which the snapshot lists before the channel itself
 * (src/host/recorded-state.ts). ./status-transfer-count.test.ts waits for its counts, which a sweep also
 * gives within half a second; here the sweep comes a second after the start, and the status before it.
 * Ends are real `ivsh guest` processes, the arbiter its own.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Client, connect } from "../src/guest/index.ts";
import { channelSlotName } from "../src/region/layout.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, EXIT_BOUND_MS, eventually } from "./helpers/processes.ts";
import { receiverJoined, tricklingTransfer } from "./helpers/transfer.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let observer: Client;

const connectObserver = () => connect({ socket: paths.socket, region: paths.region, name: "observer" });

beforeAll(async () => {
  paths = testPaths("transfer-count-compacted");
  // A lease of 8 s sweeps once a second (the longest period); a journal of 40 records is compacted.
  arbiter = await ArbiterProcess.start(paths, {
    lease: "8s",
    slots: "256",
    env: { IVSH_COMPACT_AFTER_RECORDS: "40" },
  });
  observer = await connectObserver();
  for (let index = 0; index < 50; index++)
    await observer.openSlot(channelSlotName(`idle-${index}`), "channel", true);
});
afterAll(async () => {
  await observer?.close();
  await arbiter?.stop();
  paths?.cleanup();
});

test("counted at the first status after a restart from a journal compacted with the transfer's ring in it", async () => {
  const channel = "count-compacted";
  const running = tricklingTransfer(paths, channel);
  try {
    const ringName = `${channelSlotName(channel)}:`;
    await eventually(
      async () => {
        const report = await observer.status(1000);
        return (
          report.totals.transfers === 1 && report.segments.some((each) => each.name.startsWith(ringName))
        );
      },
      EXIT_BOUND_MS,
      "the transfer in progress, its ring allocated",
    );
    // A compaction that completes may have begun before the ring: the one after it began after.
    const target = (await observer.status(0)).compactions + 2;
    await eventually(
      async () => {
        await (await observer.alloc(4096)).free(); // records for the journal to compact
        return (await observer.status(0)).compactions >= target;
      },
      60_000,
      "two compactions with the ring live",
    );
    await receiverJoined(observer, channel);
    await observer.close();
    await arbiter.kill9();
    await arbiter.restart();
    observer = await connectObserver();
    // Asked at once, before the restarted arbiter's first sweep.
    const report = await observer.status(10);
    expect(report.totals.transfers).toBe(1);
    expect(report.transfers.map((each) => each.channel)).toEqual([channel]);
  } finally {
    expect(await running.end()).toEqual([0, 0]);
  }
}, 120_000);
