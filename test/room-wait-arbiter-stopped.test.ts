/**
 * A sender waiting for room for its ring (room-wait.ts) asks the arbiter how much is free once a round. An
 * arbiter stopped (SIGSTOP, a frozen host) during that wait answers none of it: the wait must still end by
 * its limit (--timeout, roomWaitMs) plus a margin, saying that the arbiter stopped answering while the end
 * waited for room, and what to do. Found in session 36: `guest send --timeout 4s` said "so no receiver could
 * reach this end" (it had been waiting for room, not a receiver), and a library caller's roomWaitMs was not
 * a bound at all: its status waited for the client's reconnect timeout. The arbiter, continued, is unharmed.
 * One killed during the wait is said to have gone away, not to have stopped answering. A script that caught
 * the error and did not close its client still exits once its own work is done, as README.md says.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { ChannelSender } from "../src/transfer/sender.ts";
import { FULL_REGION_SIZE, holdEveryBlock } from "./helpers/full-region.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, exitOrKill, type Spawned, spawnFixture } from "./helpers/processes.ts";
import { RECONNECT_MS, stopArbiter } from "./helpers/stopped-arbiter.ts";
import { guestSaying, quietTransfer, saidOnce } from "./helpers/transfer.ts";

const LEASE_MS = 5000;
/**
 * A liveness bound from the wait's limit and the lease, with a generous margin: never a speed. The CLI's
 * --timeout leaves the test seconds to stop the arbiter once the wait has begun, on a loaded machine too.
 */
const within = (limitMs: number) => limitMs + 3 * LEASE_MS + 10_000;
const STOPPED_WORDS =
  "the arbiter stopped answering (is it stopped or frozen? resume or restart it) while this end waited for " +
  "room in the region for the ring";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let input: string;
beforeEach(async () => {
  paths = testPaths("wait36-room-stopped");
  // 4 MiB: 63 data blocks of 64 KiB, all held by the holder below.
  arbiter = await ArbiterProcess.start(paths, { size: FULL_REGION_SIZE, lease: `${LEASE_MS}ms` });
  input = join(paths.dir, "input");
  writeFileSync(input, "hello\n");
});
afterEach(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

/** Once the holder is gone, a transfer through the continued arbiter goes through. */
async function arbiterStillWorks(holder: Spawned) {
  holder.proc.kill("SIGKILL");
  await holder.exit();
  const out = join(paths.dir, "after.out");
  const { receiver, sender } = quietTransfer(paths, "after", input, out);
  expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
  expect(readFileSync(out, "utf8")).toBe("hello\n");
}

/**
 * A library sender's open on `channel` of a full region, waiting up to 2 s for room, `onRoomWait` run as the
 * wait begins; its outcome, or "late" past the liveness bound (its client's own give-up on a silent arbiter,
 * the reconnect timeout, is far past it).
 */
async function libraryRoomWait(channel: string, onRoomWait: () => void) {
  const client = await connect({
    socket: paths.socket,
    region: paths.region,
    reconnectTimeoutMs: RECONNECT_MS,
  });
  const open = ChannelSender.open(client, channel, {
    chunkBytes: 4096,
    depth: 2,
    roomWaitMs: 2000,
    onRoomWait,
  }).then(
    () => ({ code: "opened", message: "" }),
    (error: { code?: string; message?: string }) => ({ code: error.code, message: error.message }),
  );
  const late = Bun.sleep(within(2000)).then(() => ({ code: "late", message: "" }));
  const outcome = await Promise.race([open, late]);
  return { outcome, closed: () => client.close({ waitForArbiter: false }) };
}

test("send --timeout 8s waiting for room, its arbiter stopped: gives up by its --timeout, saying the arbiter stopped answering while it waited for room", async () => {
  const holder = await holdEveryBlock(paths);
  const sender = guestSaying(paths, ["send", input, "--channel", "stopped-room", "--timeout", "8s"]);
  let stopped: { resume(): void } | undefined;
  try {
    expect(await saidOnce(sender, "waiting up to 8 s for room")).toContain("waiting up to 8 s for room");
    stopped = stopArbiter(arbiter);
    const exited = await exitOrKill(sender.proc, within(8000));
    // Before: 'since the arbiter stopped answering (is it stopped or frozen? resume or restart it), so no
    // receiver could reach this end within 8 s (--timeout)': it was waiting for room, not for a receiver.
    expect({ exited, said: sender.said.text }).toMatchObject({
      exited: 1,
      said: expect.stringContaining(`ERROR Failed to send on channel 'stopped-room' since ${STOPPED_WORDS}`),
    });
    expect(sender.said.text).not.toContain("they stayed held");
  } finally {
    stopped?.resume();
    sender.proc.kill("SIGKILL");
  }
  await arbiterStillWorks(holder);
}, 90_000);

test("a library sender's roomWaitMs bounds its wait for room when the arbiter stops answering during it", async () => {
  const holder = await holdEveryBlock(paths);
  let stopped: { resume(): void } | undefined;
  const { outcome, closed } = await libraryRoomWait("lib-stopped", () => {
    stopped = stopArbiter(arbiter);
  });
  try {
    // Before: late: its status waited for the arbiter until the client's reconnect timeout (120 s here).
    expect(outcome).toEqual({
      code: "ArbiterUnreachable",
      message: expect.stringContaining(`since ${STOPPED_WORDS}`),
    });
    expect(outcome.message).toMatch(/until the 2 s it waited for room were up/);
  } finally {
    stopped?.resume();
    await closed();
  }
  await arbiterStillWorks(holder);
}, 90_000);

test("a library sender whose arbiter goes away (killed) during its wait for room is told so by its roomWaitMs, not that it stopped answering", async () => {
  const holder = await holdEveryBlock(paths);
  const killed: Promise<void>[] = [];
  const { outcome, closed } = await libraryRoomWait("lib-gone", () => {
    killed.push(arbiter.kill9());
  });
  try {
    // Before: "the arbiter stopped answering (is it stopped or frozen? ...": it had gone, not stopped.
    expect(outcome).toEqual({
      code: "ArbiterUnreachable",
      message: expect.stringContaining(
        "since the arbiter went away (connection lost) and did not come back (start `ivsh host` again) while " +
          "this end waited for room in the region for the ring",
      ),
    });
  } finally {
    await Promise.all(killed);
    holder.proc.kill("SIGKILL");
    await holder.exit();
    await closed();
  }
}, 90_000);

test("a library script that catches the room wait's ArbiterUnreachable and forgets close() exits while the arbiter stays stopped", async () => {
  const holder = await holdEveryBlock(paths);
  const config = { channel: "lib-quit", roomWaitMs: 2000, reconnectTimeoutMs: RECONNECT_MS };
  const script = spawnFixture("room-wait-quitter", clientConfig(paths, config));
  let stopped: { resume(): void } | undefined;
  try {
    await script.events.next("waiting", within(2000));
    stopped = stopArbiter(arbiter);
    expect(await script.events.next("caught", within(2000))).toMatchObject({ code: "ArbiterUnreachable" });
    // Before: late: its unanswered status, and the slot's close after the failed open, kept its connection
    // holding the process until the arbiter answered again (or the reconnect timeout, 120 s here).
    expect(await exitOrKill(script.proc, within(0))).toBe(0);
  } finally {
    stopped?.resume();
    script.proc.kill("SIGKILL");
  }
  await arbiterStillWorks(holder);
}, 90_000);
