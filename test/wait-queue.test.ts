/**
 * The arbiter's queue of parked waits (src/host/wait-queue.ts) on its own, in-process: what the tests
 * through real clients (wake.test.ts, wait-limit.test.ts) cannot see, as a wait left behind is harmless
 * to the next wake (its settle fails and the wake passes on) yet counted in status and against the limit.
 */
import { expect, test } from "bun:test";
import { type Waiter, WaitQueue } from "../src/host/wait-queue.ts";
import { WaitOutcome } from "../src/protocol/messages.ts";

/** A waiter of `clientId` that records each outcome it is given. */
function waiter(clientId: number, expected = 0) {
  const outcomes: number[] = [];
  const parked: Waiter = {
    clientId,
    requestId: 1,
    expected,
    settle: (outcome) => {
      outcomes.push(outcome);
      return true;
    },
  };
  return { parked, outcomes };
}

test("dropClient removes a client's waits unanswered: no longer counted on their word or for the client", () => {
  const queue = new WaitQueue();
  const gone = waiter(7);
  const other = waiter(8);
  queue.park(100, gone.parked, 0xffffffff);
  queue.park(100, other.parked, 0xffffffff);
  queue.dropClient(7);
  expect(queue.count(100)).toBe(1);
  expect(queue.parkedBy(7)).toBe(0);
  expect(queue.wake(100, 1)).toBe(1);
  expect(gone.outcomes).toEqual([]);
  expect(other.outcomes).toEqual([WaitOutcome.woken]);
});

test("settleClient answers a client's waits once and removes them, timers and all", async () => {
  const queue = new WaitQueue();
  const expired = waiter(7);
  queue.park(100, expired.parked, 1);
  queue.park(101, waiter(7).parked, 0xffffffff);
  let answered = 0;
  queue.settleClient(7, () => answered++);
  expect(answered).toBe(2);
  expect(queue.parkedBy(7)).toBe(0);
  expect(queue.count(100) + queue.count(101)).toBe(0);
  await Bun.sleep(20); // past the first wait's 1 ms timeout: it must not answer again
  expect(expired.outcomes).toEqual([]);
});

test("a word whose waits are all gone is forgotten: the sweep's recheck no longer reads it", () => {
  const queue = new WaitQueue();
  queue.park(100, waiter(7).parked, 0xffffffff);
  queue.park(200, waiter(8).parked, 0xffffffff);
  queue.wake(100, 1);
  queue.dropClient(8);
  const read: number[] = [];
  const steps = queue.recheckInSteps((key) => {
    read.push(key);
    return 0;
  });
  for (let step = steps.next(); !step.done; step = steps.next());
  expect(read).toEqual([]);
});

test("a timeout past what setTimeout takes (2^31 - 1 ms) is clamped, not fired at once", async () => {
  const queue = new WaitQueue();
  const long = waiter(7);
  queue.park(100, long.parked, 0xffffffff - 1); // one less than WAIT_FOREVER: a timed wait of ~49 days
  await Bun.sleep(50); // an unclamped timer fires after 1 ms
  expect(long.outcomes).toEqual([]);
  expect(queue.count(100)).toBe(1);
  queue.dropClient(7); // its timer with it, or this test's process would wait on it
});
