/**
 * A transfer's end with --timeout 8s whose arbiter is stopped (SIGSTOP, a frozen host) while the lease is
 * long (60 s): the lease's rules (an arbiter told silent after half a lease, 30 s) must not be what ends the
 * end's wait; its --timeout does, plus a margin. Found in session 36: `guest send --timeout 4s` waiting for a receiver
 * gave up at its --timeout, then waited for its ring's release from the stopped arbiter until half a lease
 * had passed (30 s here), while its progress line said "this end gives up when its --timeout 4 s for the
 * other end runs out". Each case continues the arbiter after; a transfer through it then goes through.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FULL_REGION_SIZE, holdEveryBlock } from "./helpers/full-region.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, exitOrKill } from "./helpers/processes.ts";
import { stopArbiter } from "./helpers/stopped-arbiter.ts";
import { guestSaying, idleEnd, quietTransfer, saidOnce } from "./helpers/transfer.ts";

/** Half of it (when the arbiter is told silent) is far past the bound below. */
const LEASE = "60s";
/** Seconds for the test to stop the arbiter once the end waits, on a loaded machine too. */
const TIMEOUT_MS = 8000;
/** A liveness bound from the --timeout, with a generous margin: never a speed. */
const WITHIN_MS = TIMEOUT_MS + 15_000;

let paths: TestPaths;
let arbiter: ArbiterProcess;
beforeAll(async () => {
  paths = testPaths("wait36-long-lease");
  // 4 MiB: 63 data blocks of 64 KiB, for a holder of them all to fill.
  arbiter = await ArbiterProcess.start(paths, { size: FULL_REGION_SIZE, lease: LEASE });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

/** `end` given `WITHIN_MS` to exit once the arbiter is stopped; the arbiter continued after, and checked. */
async function whileStopped(end: { proc: { exited: Promise<number>; kill(signal?: number): void } }) {
  const stopped = stopArbiter(arbiter);
  try {
    return await exitOrKill(end.proc, WITHIN_MS);
  } finally {
    stopped.resume();
    end.proc.kill(9);
  }
}

async function transferGoesThrough(channel: string) {
  const input = join(paths.dir, `${channel}.in`);
  writeFileSync(input, "hello\n");
  const out = join(paths.dir, `${channel}.out`);
  const { receiver, sender } = quietTransfer(paths, channel, input, out);
  expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
  expect(readFileSync(out, "utf8")).toBe("hello\n");
}

for (const [role, peer] of [
  ["send", "receiver"],
  ["recv", "sender"],
] as const)
  test(`${role} --timeout 8s waiting for a ${peer}, its arbiter stopped: exits by its --timeout, not half a lease later`, async () => {
    const end = idleEnd(paths, role, `waiting-${role}`, "8s");
    await eventually(async () => end.said.text.includes(`waiting for a ${peer}`), WITHIN_MS, "the wait");
    const exited = await whileStopped(end);
    // Before (send): late: it waited for its ring's release until the arbiter was told silent (30 s).
    expect({ exited, said: end.said.text }).toMatchObject({
      exited: 1,
      said: expect.stringContaining(`showed up within 8 s (--timeout)`),
    });
    await transferGoesThrough(`after-${role}`);
  }, 90_000);

for (const role of ["send", "recv"] as const)
  test(`${role} --timeout 8s to an arbiter stopped before it starts: fails by its --timeout, saying the arbiter did not answer`, async () => {
    const stopped = stopArbiter(arbiter);
    let exited: number | "late";
    const end = idleEnd(paths, role, `connect-${role}`, "8s");
    try {
      exited = await exitOrKill(end.proc, WITHIN_MS);
    } finally {
      stopped.resume();
    }
    expect({ exited, said: end.said.text }).toMatchObject({
      exited: 1,
      said: expect.stringContaining("it accepted the connection but did not answer within 8 s"),
    });
    await transferGoesThrough(`after-connect-${role}`);
  }, 90_000);

test("send --timeout 8s waiting for room, its arbiter stopped: exits by its --timeout, saying the arbiter stopped answering while it waited for room", async () => {
  const holder = await holdEveryBlock(paths);
  const input = join(paths.dir, "room.in");
  writeFileSync(input, "hello\n");
  try {
    const sender = guestSaying(paths, ["send", input, "--channel", "room", "--timeout", "8s"]);
    expect(await saidOnce(sender, "waiting up to 8 s for room")).toContain("waiting up to 8 s for room");
    const exited = await whileStopped(sender);
    expect({ exited, said: sender.said.text }).toMatchObject({
      exited: 1,
      said: expect.stringContaining(
        "since the arbiter stopped answering (is it stopped or frozen? resume or restart it) while this end " +
          "waited for room in the region for the ring (it needs 1 block and only 0 of 63 blocks are free): " +
          "its last status request went unanswered for",
      ),
    });
  } finally {
    holder.proc.kill("SIGKILL");
    await holder.exit();
  }
  await transferGoesThrough("after-room");
}, 90_000);

/**
 * `guest recv --timeout 8s` waiting, stopped (SIGSTOP) well before its --timeout and continued past it by
 * more than the 5 s a late check is told by, yet well inside half the 60 s lease (its client never counts
 * itself frozen); `meanwhile` runs while it is stopped, `then` once it is continued. Its exit and words.
 */
async function receiverStoppedAcross(channel: string, meanwhile: () => Promise<void>, then = async () => {}) {
  const receiver = idleEnd(paths, "recv", channel, "8s");
  try {
    await eventually(async () => receiver.said.text.includes("waiting for a sender"), WITHIN_MS, "the wait");
    const waitingMs = performance.now();
    receiver.proc.kill("SIGSTOP");
    await meanwhile();
    await Bun.sleep(Math.max(0, waitingMs + TIMEOUT_MS + 8000 - performance.now()));
    receiver.proc.kill("SIGCONT");
    await then();
    return { exited: await exitOrKill(receiver.proc, WITHIN_MS), said: receiver.said.text };
  } finally {
    receiver.proc.kill("SIGKILL");
  }
}

test("recv --timeout 8s stopped across it while a sender came and set up its transfer: joins it once continued", async () => {
  let sender: ReturnType<typeof idleEnd> | undefined;
  try {
    const senderComes = async () => {
      const started = idleEnd(paths, "send", "end-stopped", "60s");
      sender = started;
      await eventually(async () => started.said.text.includes("waiting for a receiver"), WITHIN_MS, "sender");
    };
    const feed = async () => {
      sender?.proc.stdin.write("hello\n");
      await sender?.proc.stdin.end();
    };
    const receiver = await receiverStoppedAcross("end-stopped", senderComes, feed);
    // Before: '"exited": 1 ... no sender started a transfer within 8 s (--timeout): a sender (client 2) holds
    // the channel but set up no ring in that time': it had, and waited; the receiver joined it, then cut it
    // off, its limit checked before it had looked.
    expect({ receiver, sender: sender && (await exitOrKill(sender.proc, WITHIN_MS)) }).toEqual({
      receiver: { exited: 0, said: expect.not.stringContaining("ERROR") },
      sender: 0,
    });
  } finally {
    sender?.proc.kill("SIGKILL");
  }
}, 90_000);

test("recv --timeout 8s stopped across it with no sender: says so, and that it looked only once continued", async () => {
  const { exited, said } = await receiverStoppedAcross("end-stopped-alone", async () => {});
  // Before: only 'no sender showed up within 8 s (--timeout)': one that came and went meanwhile went unseen.
  expect({ exited, said }).toMatchObject({
    exited: 1,
    said: expect.stringMatching(
      /no sender showed up within 8 s \(--timeout\) that this end saw; this end was itself stopped \(Ctrl-Z, SIGSTOP\) or starved until \d+(\.\d)? s past its --timeout, and looked only then: run it again/,
    ),
  });
}, 90_000);
