/**
 * A peer whose replies can no longer be written (it shut down reading, or closed its socket and the
 * arbiter has not yet seen the close) can never be answered again: a wait it left parked must not take a
 * wake-up meant for a live waiter parked after it.
 */
import { expect, test } from "bun:test";
import { decodeFields } from "../src/protocol/codec.ts";
import { FrameKind, messages, SyncCreate } from "../src/protocol/messages.ts";
import { SlotKind, SyncWord } from "../src/region/layout.ts";
import { eventually, livenessBoundMs, runCli, spawnFixture } from "./helpers/processes.ts";
import { helloFrame, rawClient, requestFrame } from "./helpers/raw.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

// A long lease: no session here may expire before the wake (which would end the unread peer's wait too).
const suite = sharedArbiter("wake-unread-peer", { lease: "60s" });
const WORD = SyncWord.firstUnused; // 0 in a new condvar slot, and nothing of ivsh's changes it

/**
 * A live waiter parks behind the unread peer's wait on condvar `name`, and one wake is sent: it must reach
 * the live waiter. `startUnread` starts the peer (a fixture, its own process, given its frames in hex) and
 * resolves once it has sent them; `beforeLive` runs once its wait is parked.
 */
async function wakeReachesLiveWaiter(
  name: string,
  startUnread: (hex: string) => Promise<ReturnType<typeof spawnFixture>>,
  beforeLive: (unread: ReturnType<typeof spawnFixture>) => Promise<void> = async () => {},
) {
  const open = { name, kind: SlotKind.condvar, create: SyncCreate.openOrCreate };
  const wait = { word: WORD, expected: 0, timeoutMs: 0xffffffff };
  const where = ["--socket", suite.socket, "--region", suite.region];
  const waiters = async () => {
    const report = JSON.parse((await runCli(["status", ...where, "--json"])).stdout);
    return report.sync.find((object: { name: string }) => object.name === name)?.waiters ?? 0;
  };
  const live = await rawClient(suite.socket);
  await live.hello("live");
  live.send("syncOpen", 2, open);
  const { slot } = decodeFields(messages.syncOpen.reply, (await live.answer(2)).body, "syncOpen");
  const hex = Buffer.concat([
    helloFrame("unread"),
    requestFrame("syncOpen", 2, open),
    requestFrame("wait", 3, { slot, ...wait }),
  ]);
  const unread = await startUnread(hex.toString("hex"));
  await eventually(
    async () => (await waiters()) === 1,
    livenessBoundMs(5000),
    "the unread peer's wait parked",
  );
  await beforeLive(unread);
  live.send("wait", 3, { slot, ...wait });
  live.send("heartbeat", 4, {});
  await live.answer(4);
  const waker = await rawClient(suite.socket);
  await waker.hello("waker");
  waker.send("syncOpen", 2, open);
  await waker.answer(2);
  waker.send("wake", 3, { slot, word: WORD, count: 1, reply: 1 });
  await waker.answer(3);
  const answered = await live.answer(3, livenessBoundMs(5000), "the live waiter's wake");
  expect(answered.kind).toBe(FrameKind.reply); // not the error of its lease run out, still parked
  expect(decodeFields(messages.wait.reply, answered.body, "wait").outcome).toBe(0);
  unread.proc.stdin.end();
  await unread.exit();
  live.socket.end();
  waker.socket.end();
}

test("a wake goes to a live waiter, not to the parked wait of a peer that reads no more", async () => {
  // The first waiter: its hello's answer already fails (EPIPE), and it goes on to park a wait.
  await wakeReachesLiveWaiter("wake-unread-peer", async (hex) => {
    const unread = spawnFixture("unread-writer", { socket: suite.socket, hex });
    await unread.events.next("written");
    return unread;
  });
});

test("a wake goes to a live waiter, not to a peer that reads no more with replies still queued for it", async () => {
  // The first waiter parks a wait, then sends heartbeats it never reads until the arbiter holds replies
  // back for it (its socket full) and stops reading it; then it shuts down reading. No reply is written
  // to it after that, so none fails: the arbiter only queues them.
  await wakeReachesLiveWaiter(
    "wake-unread-peer-queued",
    async (hex) => {
      const unread = spawnFixture("unread-filler", { socket: suite.socket, hex });
      await unread.events.next("full", livenessBoundMs(30_000));
      return unread;
    },
    async (unread) => {
      unread.proc.stdin.write("shut\n");
      await unread.events.next("shut");
    },
  );
});
