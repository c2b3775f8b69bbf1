/**
 * While its arbiter is down a client goes on through the region: its lease is not in doubt (a restarted
 * arbiter gives restored sessions a lease from its restart), and a lock waiter polls the lock word rather
 * than park with an arbiter that is not there. A resume attempt whose socket is open but whose hello is not
 * answered is that arbiter still down (through a guest's bridge QEMU accepts every attempt; an arbiter
 * restarted but stopped accepts into its backlog): it counted as an arbiter answering a live session. The
 * lease was then in doubt (a transfer's next chunk waited for the resume, in confirmLive), and a waiter
 * parked with nobody, its wait held until the resume, though the lock was let go in the region.
 */
import { afterAll, expect, test } from "bun:test";
import { testPaths } from "./helpers/paths.ts";
import { eventually, livenessBoundMs } from "./helpers/processes.ts";
import { lockHeldWhileSilenced, orStillWaiting } from "./helpers/silent-arbiter.ts";

const LEASE_MS = 2000;
const paths = testPaths("resume-unanswered");
afterAll(() => paths.cleanup());

test("a resume attempt open but unanswered puts no lease in doubt, and a lock let go meanwhile is taken", async () => {
  const { holder, waiter, held, waited, stop } = await lockHeldWhileSilenced(
    paths,
    LEASE_MS,
    "let-go-while-away",
  );
  try {
    const links = [holder.arbiterLink, waiter.arbiterLink];
    await eventually(
      async () =>
        links.every((link) => link.connected && performance.now() - link.lastAnsweredSentMs > LEASE_MS / 2),
      livenessBoundMs(LEASE_MS),
      "both clients' resume attempts open, half a lease after their last answer",
    );
    // Only this process's own freeze may put it in doubt (before the fix: in doubt, whatever).
    expect({ inDoubt: waiter.leaseInDoubt(), greeted: waiter.arbiterLink.greeted }).toEqual({
      inDoubt: waiter.wasFrozen(),
      greeted: false,
    });
    const locked = waited.lock().then(() => "locked");
    await Bun.sleep(100); // not needed for the outcome: lets the waiter reach its wait before the unlock
    held.unlock();
    // Before the fix: "still waiting" (the wait was held until a resume, here none for 60 s).
    expect(await orStillWaiting(locked, livenessBoundMs(LEASE_MS))).toBe("locked");
    waited.unlock();
  } finally {
    await stop();
  }
}, 60_000);

test("a lock waiter that polled through unanswered attempts parks in the arbiter once resumed, and the unlock wakes it", async () => {
  const { holder, waiter, held, waited, restartArbiter, stop } = await lockHeldWhileSilenced(
    paths,
    LEASE_MS,
    "parked-after-resume",
  );
  try {
    const links = [holder.arbiterLink, waiter.arbiterLink];
    await eventually(
      async () => links.every((link) => link.connected && !link.greeted),
      livenessBoundMs(LEASE_MS),
      "both clients' resume attempts open and unanswered",
    );
    const locked = waited.lock().then(() => "locked");
    const waitsBefore = waiter.requestCounts.get("wait") ?? 0;
    await Bun.sleep(200); // polling meanwhile, not parked with nobody (the first test)
    await restartArbiter();
    await eventually(
      async () => links.every((link) => link.greeted),
      livenessBoundMs(LEASE_MS),
      "both clients resumed",
    );
    // Still polling (a wait never sent) would be a waiter left out of the arbiter's wake-ups.
    await eventually(
      async () => (waiter.requestCounts.get("wait") ?? 0) > waitsBefore,
      livenessBoundMs(LEASE_MS),
      "the waiter parking in the resumed arbiter",
    );
    held.unlock();
    expect(await orStillWaiting(locked, livenessBoundMs(LEASE_MS))).toBe("locked");
    waited.unlock();
  } finally {
    await stop();
  }
}, 60_000);
