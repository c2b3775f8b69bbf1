/**
 * An unlock wakes one waiter parked in the arbiter. A waiter that is woken and then gives up without taking
 * the lock (aborted, or its client closing) has spent that wake-up: unless it passes it on, the next waiter
 * parked there sleeps until the arbiter's sweep sees the word changed (a WAIT answered "value changed",
 * up to a second later) instead of being answered "woken" at once. An aborted lock() did spend it.
 */
import { afterEach, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { connect } from "../src/guest/index.ts";
import { WaitOutcome } from "../src/protocol/messages.ts";
import { expectRejection } from "./helpers/errors.ts";
import { clientConfig, eventually, spawnFixture } from "./helpers/processes.ts";
import { rawClient } from "./helpers/raw.ts";
import { rawMutexWaiter } from "./helpers/raw-waiter.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("lock-wake-passed-on");
// A test that stops the arbiter lets it run again even if it fails first.
afterEach(() => {
  suite.arbiter.spawned.proc.kill("SIGCONT");
});

/**
 * A holder (this process) and two waiters parked in the arbiter in turn: B (woken-quitter, another process)
 * first, then C (a raw client, announced as the library's waiters announce themselves). The holder unlocks:
 * its one wake-up goes to B, who gives up `how` (`barge`: the holder takes the lock again first, and lets it
 * go once B has given up). Returns how B's lock() ended and how C's WAIT was answered.
 * At most 3 tries: the sweep may also end C's WAIT between the unlock and a prompt wake-up (see wake.test.ts).
 */
async function handOff(how: "abort" | "close" | "self", barge = false) {
  const name = `passed-on-${how}${barge ? "-barged" : ""}`;
  const holder = await connect({ socket: suite.socket, region: suite.region, futexParking: false });
  const waiter = await rawClient(suite.socket);
  try {
    const mutex = await holder.mutex(name);
    const c = await rawMutexWaiter(holder, waiter, name);
    let ended: Record<string, unknown> = {};
    let outcome: number | undefined;
    for (let tries = 0; tries < 3 && outcome !== WaitOutcome.woken; tries++) {
      await mutex.lock();
      const marker = `${suite.dir}/${name}-${tries}.go`;
      const quitter = spawnFixture("woken-quitter", clientConfig(suite.paths, { mutex: name, how, marker }));
      await quitter.events.next("parked");
      await eventually(async () => (await c.waitersOnSlot()) === 1, 20_000, "B's WAIT parked in the arbiter");
      // C parks behind B, announced as a waiter in the arbiter is: B has set the waiters bit already.
      const waited = c.park();
      await eventually(async () => (await c.waitersOnSlot()) === 2, 20_000, "C's WAIT parked in the arbiter");
      if (how === "close") {
        quitter.proc.stdin.write("hold\n");
        quitter.proc.stdin.flush();
        await quitter.events.next("holding"); // its event loop stopped: the wake-up's reply waits unread
      }
      mutex.unlock();
      // Barging: taken again at once (no waiters bit), before B, woken, finds it taken.
      if (barge) expect(mutex.tryLock()).toBe("acquired");
      // Asked after the unlock on the same connection: answered once the WAKE was served (B woken).
      await holder.status();
      writeFileSync(marker, ""); // B closes, then reads its wake-up
      ended = await quitter.events.next("ended");
      if (barge) mutex.unlock();
      outcome = await c.outcome(waited);
      quitter.proc.stdin.write("done\n");
      quitter.proc.stdin.end();
      await quitter.exit();
      rmSync(marker, { force: true });
    }
    await mutex.close();
    return { ended, outcome };
  } finally {
    waiter.socket.end();
    await holder.close();
  }
}

test("a lock() woken, then aborted before it took the lock, passes the wake-up on to the next waiter", async () => {
  const { ended, outcome } = await handOff("abort");
  expect(ended).toMatchObject({ ok: false, code: "Interrupted" });
  expect(outcome).toBe(WaitOutcome.woken);
});

test("a lock() woken, then aborted as it finds the lock taken again, leaves the next waiter woken by that unlock", async () => {
  const { ended, outcome } = await handOff("abort", true);
  expect(ended).toMatchObject({ ok: false, code: "Interrupted" });
  expect(outcome).toBe(WaitOutcome.woken);
});

// Held before the fix too: the arbiter, reading the refused waiter's goodbye (sent before its refusal), wakes
// every waiter on the slots that client held. It stays as the guard of that path.
test("a lock() woken once its client's close() has begun, refused, leaves the next waiter woken at once", async () => {
  const { ended, outcome } = await handOff("close");
  expect(ended).toMatchObject({ ok: false, code: "ConnectionLost" });
  expect(outcome).toBe(WaitOutcome.woken);
});

// Two tasks of one client contending for a lock is refused ("holds it already"), but the refused task, woken by
// the unlock, had spent the next waiter's wake-up: the sibling took the lock with no waiters bit (the unlock
// cleared it), so its unlock woke nobody and the waiter parked in the arbiter slept until the sweep.
test("a lock() woken as another task of its client takes the lock, refused, leaves the next waiter woken by that task's unlock", async () => {
  const { ended, outcome } = await handOff("self");
  expect(ended).toMatchObject({ ok: false, code: "InvalidArgument" });
  expect(outcome).toBe(WaitOutcome.woken);
});

// A lock(ms) gives up on its WAIT's answer a little after its timeout: an arbiter stopped meanwhile parks
// that WAIT once it runs again, first in line, and the next unlock's one wake-up went to it (answered to a
// lock() long gone) while the waiter parked behind it slept until the sweep.
test("a lock(ms) that gave up on a stopped arbiter's answer leaves no WAIT there to take the next waiter's wake-up", async () => {
  const name = "passed-on-stalled";
  const where = { socket: suite.socket, region: suite.region, futexParking: false };
  const holder = await connect(where);
  const quitter = await connect(where);
  const waiter = await rawClient(suite.socket);
  try {
    const mutex = await holder.mutex(name);
    const quitting = await quitter.mutex(name);
    const c = await rawMutexWaiter(holder, waiter, name);
    let outcome: number | undefined;
    for (let tries = 0; tries < 3 && outcome !== WaitOutcome.woken; tries++) {
      await mutex.lock();
      suite.arbiter.spawned.proc.kill("SIGSTOP");
      // Its WAIT (timed: 3 s) reaches the arbiter only once it runs again, after lock() has given it up.
      await expectRejection(quitting.lock(3000), "Timeout");
      suite.arbiter.spawned.proc.kill("SIGCONT");
      await quitter.status(); // answered once the arbiter has read what the quitter sent before it
      const waited = c.park();
      const synced = c.nextRequestId();
      waiter.send("heartbeat", synced, {});
      await waiter.answer(synced); // parked
      mutex.unlock();
      outcome = await c.outcome(waited);
    }
    expect(outcome).toBe(WaitOutcome.woken);
  } finally {
    waiter.socket.end();
    await Promise.all([holder.close(), quitter.close()]);
  }
}, 60_000);
