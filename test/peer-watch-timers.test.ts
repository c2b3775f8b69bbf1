/**
 * What judging a peer (src/transfer/peer.ts) leaves running, each word and each answer of the arbiter
 * scripted: the wait for the arbiter's view is cleared once it answered (left, it held `ivsh guest recv`
 * 2 s past its error), the watch of an end busy with its own input or output never keeps its process alive
 * and stops once its client is closed, and it ends on our own session's loss. Also the words it says: the
 * id of a peer that gave up before it was looked at, and a peer judged without the arbiter's answer.
 */
import { afterEach, expect, test } from "bun:test";
import { failure } from "../src/errors.ts";
import { ChannelState } from "../src/region/layout.ts";
import { abortWhenGone, Peer } from "../src/transfer/peer.ts";
import type { ChannelSlot } from "../src/transfer/slot.ts";

function scriptedSlot(options: { alive?: number[]; status?: () => Promise<never>; holder?: number } = {}) {
  const slot = {
    holder: () => ({ owner: options.holder ?? 0, died: false }),
    load: (word: string) => (word === "state" ? ChannelState.streaming : 0),
    sessionLost: async () => undefined,
    client: {
      lost: undefined,
      leaseInDoubt: () => false,
      status:
        options.status ??
        (async (_limit: number, id: number) => ({
          clients: (options.alive ?? []).includes(id) ? [{ clientId: id, vm: "host" }] : [],
          requester: { vm: "host" },
        })),
    },
  };
  return slot as unknown as ChannelSlot;
}

/** Timers made through the globals while `run` runs, and whether each was cleared since. */
const made: { timer: ReturnType<typeof setTimeout>; cleared: boolean; repeats: boolean }[] = [];
const originals = {
  setTimeout: globalThis.setTimeout,
  clearTimeout: globalThis.clearTimeout,
  setInterval: globalThis.setInterval,
  clearInterval: globalThis.clearInterval,
};
function watchTimers(): void {
  made.length = 0;
  const record =
    (make: typeof setTimeout, repeats: boolean) =>
    (...args: Parameters<typeof setTimeout>) => {
      const timer = make(...args);
      made.push({ timer, cleared: false, repeats });
      return timer;
    };
  const clear = (original: typeof clearTimeout) => (timer?: ReturnType<typeof setTimeout>) => {
    for (const entry of made) if (entry.timer === timer) entry.cleared = true;
    original(timer);
  };
  globalThis.setTimeout = record(originals.setTimeout, false) as unknown as typeof setTimeout;
  globalThis.setInterval = record(
    originals.setInterval as typeof setTimeout,
    true,
  ) as unknown as typeof setInterval;
  globalThis.clearTimeout = clear(originals.clearTimeout) as typeof clearTimeout;
  globalThis.clearInterval = clear(originals.clearInterval) as typeof clearInterval;
}
afterEach(() => {
  Object.assign(globalThis, originals);
  for (const { timer } of made) originals.clearInterval(timer);
});

test("a peer judged gone with the arbiter's answer in: the wait for that answer is cleared", async () => {
  const peer = Peer.attached(scriptedSlot({ alive: [] }), "sender", "answered", 5);
  expect(peer.departure()).toEqual({ owner: 0, died: false }); // seen gone, as the watch sees it first
  watchTimers();
  const error = await peer.goneError({ owner: 0, died: true });
  expect(error.message).toMatch(/the sender \(client 5\) died/);
  expect(made.filter((entry) => !entry.repeats).map((entry) => entry.cleared)).toEqual([true]);
});

test("the watch of an end busy with its own input never holds its process alive", () => {
  const peer = Peer.attached(scriptedSlot(), "receiver", "unref", 5);
  watchTimers();
  const watch = abortWhenGone(peer);
  const intervals = made.filter((entry) => entry.repeats);
  expect(intervals).toHaveLength(1);
  expect(intervals[0]!.timer.hasRef()).toBe(false);
  watch.stop();
});

test("the watch stops itself once its client is closed (its words unmapped), and says why", async () => {
  const closed = new Error("the client is closed");
  const peer = {
    ownLoss: () => undefined,
    departure: () => {
      throw closed;
    },
  } as unknown as Peer;
  watchTimers();
  const { signal } = abortWhenGone(peer);
  await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
  expect(signal.reason).toBe(closed);
  expect(made.filter((entry) => entry.repeats).map((entry) => entry.cleared)).toEqual([true]);
});

test("the watch ends with our own session's loss, and stops", async () => {
  const expired = failure("LeaseExpired", "keep the session", "its lease expired");
  let departures = 0;
  const peer = {
    ownLoss: () => expired,
    departure: () => {
      departures++;
      return undefined;
    },
  } as unknown as Peer;
  watchTimers();
  const { signal } = abortWhenGone(peer);
  await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
  expect(signal.reason).toBe(expired);
  expect(departures).toBe(0);
  expect(made.filter((entry) => entry.repeats).map((entry) => entry.cleared)).toEqual([true]);
});

test("a peer that gave up before it was ever looked at is named by its id", () => {
  const peer = new Peer(scriptedSlot(), "sender", "unlooked", () => 7);
  expect(peer.gaveUp().message).toContain("the sender (client 7) gave up before the end");
});

// The arbiter did not answer (away, or the client closing): the lock word is taken at its word, and a
// new holder it names is no overwrite.
test("a peer judged without the arbiter's answer: the new holder the word names is taken at its word", async () => {
  const slot = scriptedSlot({ status: () => Promise.reject(new Error("the client is closed")), holder: 9 });
  const peer = Peer.attached(slot, "receiver", "unanswered", 5);
  expect(peer.departure()).toBeDefined();
  const error = await peer.goneError({ owner: 9, died: false });
  expect(error.message).toMatch(
    /the receiver \(client 5\) went away before the end \(client 9 holds that end now\)/,
  );
});
