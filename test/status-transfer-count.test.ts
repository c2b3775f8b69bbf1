/**
 * A status's count of transfers in progress stays what a look at every channel's slot finds, through each
 * change a transfer goes through: started, ended (many times over on one channel), an end killed with
 * SIGKILL, and an arbiter killed and restarted from its journal with the transfer still running. The
 * arbiter counts only among the channels holding a ring and those its last sweep found in progress
 * (src/host/transfers.ts); the recount here reads every channel's `state` word from the region itself.
 * Ends are real `ivsh guest` processes, the arbiter its own.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { type Client, connect } from "../src/guest/index.ts";
import { ChannelState, ChannelWord, channelSlotName } from "../src/region/layout.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, EXIT_BOUND_MS, eventually } from "./helpers/processes.ts";
import { guest, quietTransfer, randomFile, receiverJoined, tricklingTransfer } from "./helpers/transfer.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let observer: Client;

const connectObserver = () => connect({ socket: paths.socket, region: paths.region, name: "observer" });

beforeAll(async () => {
  paths = testPaths("transfer-count");
  // Ends are killed (their sockets close: no lease needed to see it), not stopped: a longer lease only
  // keeps a loaded machine from expiring this process's own observer (2 s did, at load ~20).
  arbiter = await ArbiterProcess.start(paths, { lease: "8s", slots: "256" });
  observer = await connectObserver();
  // Idle channels, many more than those with a transfer: the count must not miss or take in any of them.
  for (let index = 0; index < 100; index++)
    await observer.openSlot(channelSlotName(`idle-${index}`), "channel", true);
});
afterAll(async () => {
  await observer?.close();
  await arbiter?.stop();
  paths?.cleanup();
});

/** The channels whose `state` word says a transfer is in progress, read from the region. */
async function recount(): Promise<number> {
  const { sync } = await observer.status(1000);
  return sync.filter((object) => {
    if (object.kind !== "channel") return false;
    const state = Atomics.load(observer.slotWords(object.slot), ChannelWord.state);
    return state === ChannelState.streaming || state === ChannelState.keeping;
  }).length;
}

/** Until the status (limit 0, as a sender waiting for room asks) and the recount both say `expected`. */
async function counted(expected: number, what: string): Promise<void> {
  let last = "";
  const check = async () => {
    const [status, walked] = [(await observer.status(0)).totals.transfers, await recount()];
    last = `status ${status}, recount ${walked}`;
    return status === expected && walked === expected;
  };
  await eventually(check, EXIT_BOUND_MS, `${what}: ${expected} in progress`).catch((error: Error) => {
    throw new Error(`${error.message} (last: ${last})`);
  });
}

test("counted as transfers start and end, and after many on one channel", async () => {
  await counted(0, "none yet");
  const running = ["count-a", "count-b", "count-c"].map((channel) => tricklingTransfer(paths, channel));
  try {
    await counted(3, "three started");
    expect(await running[0]!.end()).toEqual([0, 0]);
    await counted(2, "one ended");
    // Transfers one after another on one channel: each ring allocated and freed, none left counted.
    const input = join(paths.dir, "cycle.in");
    await randomFile(input, 100_000);
    for (let cycle = 0; cycle < 8; cycle++) {
      const { sender, receiver } = quietTransfer(
        paths,
        "count-cycle",
        input,
        join(paths.dir, `cycle-${cycle}.out`),
      );
      expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
    }
    await counted(2, "after eight transfers on one channel");
  } finally {
    for (const each of running.slice(1)) expect(await each.end()).toEqual([0, 0]);
  }
  await counted(0, "all ended");
}, 120_000);

test("counted as ends are killed with SIGKILL mid-transfer: a sender, a receiver", async () => {
  // A sender fed once and left waiting on its input (a trickling one's feeder would write into the dead pipe).
  const channel = "count-sender-killed";
  const receiver = guest(paths, ["recv", "--channel", channel, "--out", "/dev/null"]);
  const sender = guest(paths, ["send", "-", "--channel", channel, "--chunk-size", "64KiB"]);
  sender.proc.stdin.write(new Uint8Array(64 << 10).fill(1));
  await sender.proc.stdin.flush();
  const receiverKilled = tricklingTransfer(paths, "count-receiver-killed");
  await counted(2, "two started");
  // Each killed once its receiver joined: a sender killed before waits on for the next receiver, and a
  // sender whose receiver was killed before joining waits for another one (both rightly).
  await receiverJoined(observer, channel);
  await receiverJoined(observer, "count-receiver-killed");
  sender.proc.kill("SIGKILL");
  receiverKilled.receiver.proc.kill("SIGKILL");
  // Each survivor sees its peer gone and ends the transfer; the dead ends' rings go with their sessions.
  await counted(0, "both ends killed");
  expect(await receiver.exit()).not.toBe(0);
  expect((await receiverKilled.end())[0]).not.toBe(0);
}, 60_000);

test("counted when a sender killed before any receiver joined leaves 'streaming' behind, its ring freed", async () => {
  const channel = "count-unjoined";
  // Held by the observer, the slot outlives the sender, and the state word with it.
  const { slot } = await observer.openSlot(channelSlotName(channel), "channel", true);
  const sender = guest(paths, ["send", "-", "--channel", channel, "--chunk-size", "64KiB"]);
  try {
    const words = observer.slotWords(slot);
    await eventually(
      async () => Atomics.load(words, ChannelWord.state) === ChannelState.streaming,
      EXIT_BOUND_MS,
      "the sender published its transfer",
    );
    await counted(1, "published, no receiver");
    sender.proc.kill("SIGKILL");
    const ringLive = async () =>
      (await observer.status(1000)).segments.some((each) =>
        each.name.startsWith(`${channelSlotName(channel)}:`),
      );
    await eventually(async () => !(await ringLive()), EXIT_BOUND_MS, "the dead sender's ring freed");
    expect(Atomics.load(words, ChannelWord.state)).toBe(ChannelState.streaming);
    // No ring to find it by: the arbiter's sweep does, as it walks every channel.
    await counted(1, "the sender killed, its ring freed");
  } finally {
    sender.proc.kill("SIGKILL");
    await sender.proc.exited;
    await observer.closeSlot(slot);
  }
  await counted(0, "the slot let go");
}, 60_000);

test("counted after the arbiter is killed and restarted from its journal, the transfer still running", async () => {
  const running = tricklingTransfer(paths, "count-restart");
  try {
    await counted(1, "one started");
    await receiverJoined(observer, "count-restart");
    await observer.close();
    await arbiter.kill9();
    await arbiter.restart();
    observer = await connectObserver();
    // The ring is back from the journal before the first sweep: counted at once, and still once.
    await counted(1, "after the restart");
  } finally {
    expect(await running.end()).toEqual([0, 0]);
  }
  await counted(0, "ended after the restart");
}, 60_000);
