/**
 * An AbortSignal ends a mutex or condvar wait: lock(), acquire() and wait() take `{ timeoutMs, signal }`.
 * Before, they took only a timeout: an application could not give up a wait on its own terms (Ctrl-C, a
 * cancelled request) short of closing its whole client, and `lock({ signal })` was refused as a bad timeout.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { IvshError } from "../src/errors.ts";
import { connect } from "../src/guest/index.ts";
import { ChannelReceiver, ChannelSender } from "../src/transfer/index.ts";
import { expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, livenessBoundMs, spawnFixture } from "./helpers/processes.ts";

const LEASE_MS = 5000;
let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("wait-abort");
  arbiter = await ArbiterProcess.start(paths, { lease: `${LEASE_MS}ms` });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

const aborted = () => AbortSignal.abort();

test("a signal aborted before the call: lock() takes not even a free lock, wait() keeps the lock held", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region });
  const mutex = await client.mutex("abort-before");
  await expectRejection(
    mutex.lock({ signal: aborted() }),
    "Interrupted",
    /lock 'abort-before' since it was aborted/,
  );
  expect(mutex.owner).toBe(0);
  const condvar = await client.condvar("abort-before-cv");
  await expectRejection(condvar.acquire({ signal: aborted() }), "Interrupted");
  expect(await condvar.acquire({ timeoutMs: 1000 })).toBe("acquired");
  await expectRejection(condvar.wait({ signal: aborted() }), "Interrupted", /wait on 'abort-before-cv'/);
  expect(condvar.owner).toBe(client.clientId);
  condvar.release();
  await expectRejection(
    // biome-ignore lint/suspicious/noExplicitAny: a caller without types passes anything
    mutex.lock({ signal: {} as any }),
    "InvalidArgument",
    /its signal \(an object\) is not an AbortSignal/,
  );
  await client.close();
});

for (const futexParking of [true, false]) {
  describe(futexParking ? "parked on the futex" : "parked in the arbiter", () => {
    test("a lock() waiting on a holder in another process ends when its signal aborts", async () => {
      const name = `abort-during-${futexParking}`;
      const holder = spawnFixture("holder", clientConfig(paths, { mutex: name, segment: `${name}-held` }));
      const client = await connect({ socket: paths.socket, region: paths.region, futexParking });
      try {
        const holding = await holder.events.next("holding");
        const mutex = await client.mutex(name);
        const controller = new AbortController();
        const locking = mutex.lock({ signal: controller.signal });
        await Bun.sleep(100); // parked by now
        controller.abort();
        await expectRejection(locking, "Interrupted", new RegExp(`lock '${name}' since it was aborted`));
        expect(mutex.owner).toBe(holding.clientId as number);
        // A reason that is an IvshError is what the caller meant to say: thrown as it is.
        const reason = new IvshError("PeerGone", "Failed to go on since the peer left");
        const told = new AbortController();
        const again = mutex.lock({ signal: told.signal, timeoutMs: livenessBoundMs(LEASE_MS) });
        await Bun.sleep(100);
        told.abort(reason);
        await expectRejection(again, "PeerGone", /the peer left/);
      } finally {
        holder.proc.kill("SIGKILL");
        await client.close();
      }
    });

    test("a wait() aborted while it waits for a notify throws Interrupted holding the lock again", async () => {
      const client = await connect({ socket: paths.socket, region: paths.region, futexParking });
      const condvar = await client.condvar(`abort-wait-${futexParking}`);
      await condvar.acquire();
      const controller = new AbortController();
      const waiting = condvar.wait({ signal: controller.signal });
      await Bun.sleep(100);
      controller.abort();
      await expectRejection(waiting, "Interrupted", /wait on 'abort-wait-/);
      expect(condvar.owner).toBe(client.clientId);
      condvar.release();
      await client.close();
    });

    // The abort's Interrupted was thrown over the relock's "owner-died": the caller held the lock again
    // unaware that its last holder died inside, and the verdict, taken with the lock, was lost for good.
    test("a wait() aborted while the lock's holder is killed returns owner-died, holding the lock", async () => {
      const name = `abort-owner-died-${futexParking}`;
      const client = await connect({ socket: paths.socket, region: paths.region, futexParking });
      let holder: ReturnType<typeof spawnFixture> | undefined;
      try {
        const condvar = await client.condvar(name);
        await condvar.acquire();
        const controller = new AbortController();
        const waiting = condvar.wait({ signal: controller.signal });
        waiting.catch(() => undefined);
        holder = spawnFixture("holder", clientConfig(paths, { condvar: name, segment: `${name}-held` }));
        await holder.events.next("holding");
        controller.abort(); // the wait ends; taking the lock again waits for the holder
        await Bun.sleep(200);
        holder.proc.kill("SIGKILL");
        expect(await waiting).toBe("owner-died");
        expect(condvar.owner).toBe(client.clientId);
        condvar.release();
        expect(await condvar.acquire()).toBe("acquired"); // told once
        await expectRejection(condvar.wait({ signal: controller.signal }), "Interrupted"); // still aborted
        condvar.release();
      } finally {
        holder?.proc.kill("SIGKILL");
        await client.close();
      }
    });
  });
}

test("an aborted waiter parked in the arbiter leaves nothing behind: its process exits without close(), the next waiter gets the lock", async () => {
  const holder = spawnFixture(
    "holder",
    clientConfig(paths, { mutex: "abort-leaves", segment: "abort-leaves-held", unlockOnCommand: true }),
  );
  const other = await connect({ socket: paths.socket, region: paths.region, futexParking: false });
  let waiter: ReturnType<typeof spawnFixture> | undefined;
  try {
    await holder.events.next("holding");
    const mutex = await other.mutex("abort-leaves");
    const taking = mutex.lock(livenessBoundMs(LEASE_MS));
    waiter = spawnFixture("abort-waiter", clientConfig(paths, { mutex: "abort-leaves", abortAfterMs: 300 }));
    const ended = await waiter.events.next("ended");
    expect([ended.ok, ended.code]).toEqual([false, "Interrupted"]);
    // Its abandoned WAIT was still parked in the arbiter, awaiting an answer: that kept the process alive.
    expect(await waiter.exit(livenessBoundMs(LEASE_MS))).toBe(0);
    holder.proc.stdin.write("unlock\n");
    await holder.proc.stdin.flush();
    await holder.events.next("unlocked");
    expect(await taking).toBe("acquired");
    mutex.unlock();
  } finally {
    for (const child of [holder, waiter]) child?.proc.kill("SIGKILL");
    await other.close();
  }
}, 60_000);

// A developer's trial: a signal from AbortSignal.timeout() is a deadline, and was told as an interruption
// ("Interrupted ... since The operation timed out."); a sender opened with an aborted signal took the
// channel and allocated its ring anyway.
test("a signal's deadline (AbortSignal.timeout) ends a wait as Timeout; an aborted sender open claims nothing", async () => {
  const holder = spawnFixture("holder", clientConfig(paths, { mutex: "deadline", segment: "deadline-held" }));
  const client = await connect({ socket: paths.socket, region: paths.region });
  try {
    await holder.events.next("holding");
    const mutex = await client.mutex("deadline");
    await expectRejection(
      mutex.lock({ signal: AbortSignal.timeout(100) }),
      "Timeout",
      /lock 'deadline' since its signal's deadline passed/,
    );
    const receiving = ChannelReceiver.open(client, "deadline-channel", { signal: AbortSignal.timeout(100) });
    await expectRejection(receiving, "Timeout", /deadline passed/);
    const opening = ChannelSender.open(client, "deadline-channel", { signal: AbortSignal.abort() });
    await expectRejection(opening, "Interrupted", /open channel 'deadline-channel' since it was aborted/);
    const status = await client.status();
    expect(status.segments.map((segment) => segment.name)).toEqual(["deadline-held"]);
  } finally {
    holder.proc.kill("SIGKILL");
    await client.close();
  }
});
