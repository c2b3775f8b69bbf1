/**
 * A sender's wait for room (src/transfer/room-wait.ts) in-process, on a scripted room (mutation round 32):
 * a status asked as the wait's time runs out is still given a second to be answered, not called
 * unanswered at the wait's end; one never answered (the first ask's or a later one's) fails the wait
 * with ArbiterUnreachable, naming a stopped arbiter while its link is greeted and one gone while it is
 * not; the signal ends a wait on an unanswered status, limited or not; a later ask gets what is left of
 * the wait; pauses double up to a second.
 */
import { expect, spyOn, test } from "bun:test";
import { failure, type IvshError } from "../src/errors.ts";
import type { ArbiterLink } from "../src/transfer/channel-client.ts";
import { type Room, RoomWaiter } from "../src/transfer/room-wait.ts";

/** An arbiter link that only says whether it is greeted: all a wait's refusal reads of it. */
const link = (greeted: boolean) => ({ greeted }) as unknown as ArbiterLink;

const refusal = failure("NoSpace", "allocate the ring", "only 0 of 254 blocks are free (start a larger one)");

/** A room of 254 blocks whose status answers after `answerMs` with `free` blocks (never: undefined). */
function room(answerMs: number | undefined, free: number): () => Promise<Room> {
  const answer = <T>(value: T) =>
    answerMs === undefined ? new Promise<T>(() => {}) : Bun.sleep(answerMs).then(() => value);
  return async () => ({ within: "the region", capacity: 254, free: () => answer(free) });
}

test("a status answered a little after the wait's time ran out is taken, not called unanswered", async () => {
  const waiter = new RoomWaiter({ roomWaitMs: 30 }, "open channel 'late'");
  const slowRoom = async () => {
    await Bun.sleep(100); // past the 30 ms the wait has; well within the second a last answer gets
    return (await room(100, 8)()) as Room;
  };
  expect(await waiter.askAgain(refusal, 4, slowRoom)).toBe(8);
});

test("a status never answered fails the wait: a stopped arbiter while greeted, one gone while not", async () => {
  const asked = async (greeted: boolean) => {
    const waiter = new RoomWaiter({ roomWaitMs: 50 }, "open channel 'silent'", link(greeted));
    return (await waiter.askAgain(refusal, 4, room(undefined, 0)).catch((error) => error)) as IvshError;
  };
  const stopped = await asked(true);
  expect(stopped.code).toBe("ArbiterUnreachable");
  expect(stopped.message).toContain(
    "the arbiter stopped answering (is it stopped or frozen? resume or restart it)",
  );
  const gone = await asked(false);
  expect(gone.message).toContain("the arbiter went away (connection lost) and did not come back");
});

test("the signal ends a wait whose status goes unanswered, with or without a limit to the wait", async () => {
  for (const roomWaitMs of [60_000, Number.POSITIVE_INFINITY]) {
    const controller = new AbortController();
    const waiter = new RoomWaiter({ roomWaitMs, signal: controller.signal }, "open channel 'aborted'");
    // Its first ask of what room there is goes unanswered: an arbiter stopped as the wait begins.
    const never = () => new Promise<Room>(() => {});
    const asking = waiter.askAgain(refusal, 4, never).catch((error) => error as IvshError);
    setTimeout(() => controller.abort(), 50);
    // The wait's own bound is a minute (or none): only the signal ends it this soon.
    const ended = await Promise.race([asking, Bun.sleep(10_000).then(() => "still waiting")]);
    expect(ended).toMatchObject({ message: "Failed to open channel 'aborted' since it was aborted" });
  }
});

test("the first ask of what room there is, never answered, fails the wait too, saying what it asked", async () => {
  const waiter = new RoomWaiter({ roomWaitMs: 50 }, "open channel 'unasked'", link(true));
  const never = () => new Promise<Room>(() => {});
  const refused = (await waiter.askAgain(refusal, 4, never).catch((error) => error)) as IvshError;
  expect(refused.code).toBe("ArbiterUnreachable");
  expect(refused.message).toContain(
    "while this end asked what room there is for the ring (only 0 of 254 blocks",
  );
});

test("the pauses between asks double from 50 ms up to a second, no longer", async () => {
  const pauses: number[] = [];
  const sleep = spyOn(Bun, "sleep").mockImplementation(async (ms: number | Date) => {
    pauses.push(Number(ms));
  });
  try {
    let asks = 0;
    const filling = async () => ({
      within: "the region",
      capacity: 254,
      free: async () => (++asks < 12 ? 0 : 8), // room made at the twelfth ask
    });
    const waiter = new RoomWaiter({ roomWaitMs: Number.POSITIVE_INFINITY }, "open channel 'paced'");
    expect(await waiter.askAgain(refusal, 4, filling)).toBe(8);
  } finally {
    sleep.mockRestore();
  }
  expect(pauses).toEqual([50, 100, 200, 400, 800, 1000, 1000, 1000, 1000, 1000, 1000, 1000]);
});

test("a later ask's status gets what is left of the wait, not the whole wait again", async () => {
  const controller = new AbortController();
  const waiter = new RoomWaiter({ roomWaitMs: 60_000, signal: controller.signal }, "open channel 'again'");
  expect(await waiter.askAgain(refusal, 4, room(0, 8))).toBe(8); // waited one pause (50 ms)
  const bounds: number[] = [];
  const original = globalThis.setTimeout;
  globalThis.setTimeout = ((handler: () => void, delay?: number) => {
    bounds.push(delay ?? 0);
    return original(handler, delay);
  }) as typeof setTimeout;
  try {
    const again = waiter.askAgain(refusal, 4, () => new Promise<Room>(() => {})).catch(() => "ended");
    controller.abort();
    expect(await again).toBe("ended");
  } finally {
    globalThis.setTimeout = original;
  }
  expect(bounds).toHaveLength(1);
  expect(bounds[0]).toBeLessThanOrEqual(60_000 - 50);
});
