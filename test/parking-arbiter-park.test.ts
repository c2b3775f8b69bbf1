/**
 * A park in the arbiter (src/guest/parking.ts, `Parker.park` with no wake mailbox), the client and its
 * WAITs scripted in-process: the waiter counts itself queued while its WAIT is out and takes the count
 * back after, but not from another object now in the slot (a -1 there hides that object's next waiter from
 * every waker); a deadline already passed sends no WAIT; a WAIT given up on (its signal aborted, or no
 * answer a little after its timeout) wakes every waiter on the word, lest its own WAIT, left parked in the
 * arbiter, take a wake-up meant for a live one; an answered one leaves no timer and no listener on the
 * signal; a session lost meanwhile is thrown; and the word's waker is remembered for the next park.
 */
import { afterEach, expect, test } from "bun:test";
import { Parker, type ParkingClient, ParkSite } from "../src/guest/parking.ts";
import {
  computeGeometry,
  PARKABLE_WORDS,
  SlotWord,
  SyncWord,
  slotWordIndex,
  WAKE_ALL,
} from "../src/region/layout.ts";
import { countedSignal, restoreTimers, timersCleared, watchTimers } from "./helpers/leftovers.ts";

const SLOT = 3;
const [LOCK] = PARKABLE_WORDS;
const EXPECTED = 0x10;
const LONG_MS = 600_000;

/** A client whose WAITs are answered by the test: `answer(value)` settles the one out. */
function setUp() {
  const geometry = computeGeometry(1 << 20, 4096, 8);
  const wakes: [number, number, number][] = [];
  const waits: { timeoutMs: number | undefined; queued: number }[] = [];
  let answer: (value: boolean) => void = () => {};
  let onWait: () => void = () => {};
  const client = {
    words: new Int32Array((geometry.slotOffset + geometry.slotCount * 64) / 4),
    geometry,
    lost: undefined as Error | undefined,
    waitWord: (_slot: number, _word: number, _expected: number, timeoutMs?: number) => {
      waits.push({ timeoutMs, queued: Atomics.load(client.words, site.queuedIndex) });
      const answered = new Promise<boolean>((resolve) => {
        answer = resolve;
      });
      onWait();
      return answered;
    },
    wakeWord: (slot: number, word: number, count: number) => void wakes.push([slot, word, count]),
    flushWrites: () => {},
    owedWakes: new Map<number, number>(),
  } satisfies ParkingClient;
  const site = new ParkSite(client, SLOT, LOCK!);
  client.words[site.wordIndex] = EXPECTED;
  client.words[site.generationIndex] = 7;
  const parker = new Parker(client, undefined);
  const park = (deadline: { deadlineMs?: number; signal?: AbortSignal } = {}) =>
    parker.park(site, EXPECTED, {
      startedMs: performance.now(),
      deadlineMs: deadline.deadlineMs ?? Number.POSITIVE_INFINITY,
      signal: deadline.signal,
    });
  return {
    client,
    site,
    park,
    wakes,
    waits,
    answer: (value: boolean) => answer(value),
    whenWaiting: (run: () => void) => {
      onWait = run;
    },
  };
}

afterEach(restoreTimers);

test("an answered WAIT: queued while out, the count taken back, no wake-up sent, no timer or listener left", async () => {
  const scripted = setUp();
  const { signal, listening } = countedSignal();
  scripted.whenWaiting(() => {
    Atomics.store(scripted.client.words, scripted.site.lastWakerIndex, 0x333);
    Atomics.store(scripted.client.words, scripted.site.wordIndex, EXPECTED + 1);
    scripted.answer(true);
  });
  watchTimers();
  await scripted.park({ deadlineMs: performance.now() + LONG_MS, signal });
  expect(scripted.waits.map((wait) => wait.queued)).toEqual([1]);
  expect(scripted.waits[0]!.timeoutMs).toBeGreaterThan(LONG_MS - 60_000);
  expect({
    queued: scripted.client.words[scripted.site.queuedIndex],
    wakes: scripted.wakes,
    timers: timersCleared(),
    listening: listening(),
    lastWakerSeen: scripted.site.lastWakerSeen,
  }).toEqual({ queued: 0, wakes: [], timers: [true], listening: 0, lastWakerSeen: 0x333 });
});

test("a deadline already passed sends no WAIT", async () => {
  const scripted = setUp();
  await scripted.park({ deadlineMs: performance.now() - 1 });
  expect({ waits: scripted.waits.length, queued: scripted.client.words[scripted.site.queuedIndex] }).toEqual({
    waits: 0,
    queued: 0,
  });
});

test("a WAIT given up on, by its signal or unanswered past its timeout, wakes every waiter on the word", async () => {
  const aborted = setUp();
  const controller = new AbortController();
  aborted.whenWaiting(() => controller.abort());
  await aborted.park({ signal: controller.signal });
  expect(aborted.wakes).toEqual([[SLOT, LOCK!.word, WAKE_ALL]]);
  expect(aborted.client.words[aborted.site.queuedIndex]).toBe(0);

  const unanswered = setUp();
  await unanswered.park({ deadlineMs: performance.now() + 10 });
  expect(unanswered.wakes).toEqual([[SLOT, LOCK!.word, WAKE_ALL]]);
});

test("an object freed and another made in the slot while parked: its queued count is not taken down", async () => {
  const scripted = setUp();
  const words = scripted.client.words;
  scripted.whenWaiting(() => {
    Atomics.store(words, scripted.site.generationIndex, 8); // another object, its counts fresh
    Atomics.store(words, scripted.site.queuedIndex, 0);
    scripted.answer(true);
  });
  await scripted.park();
  expect(words[scripted.site.queuedIndex]).toBe(0);
});

test("a session lost while parked is thrown as the park ends", async () => {
  const scripted = setUp();
  const lost = new Error("lease expired");
  scripted.whenWaiting(() => {
    scripted.client.lost = lost;
    scripted.answer(true);
  });
  await expect(scripted.park()).rejects.toBe(lost);
});

// The indices the scripted client's slot uses are the layout's, as the Parker computes them.
test("the site's words are the slot's", () => {
  const { client, site } = setUp();
  expect(site.generationIndex).toBe(slotWordIndex(client.geometry, SLOT, SlotWord.generation));
  expect(site.lastWakerIndex).toBe(slotWordIndex(client.geometry, SLOT, SyncWord.lastWaker));
});
