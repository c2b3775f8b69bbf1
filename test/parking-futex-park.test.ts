/**
 * Where and how a waiter with a wake mailbox parks (src/guest/parking.ts, `Parker.park`), the client and
 * the mailbox scripted in-process: on a slot nobody has woken yet it sleeps on its own kernel's futex,
 * having sent what waits to go to the arbiter first (a WAKE held back during the sleep reaches its waiter
 * only a slice later); a wait that has lasted LOCAL_PARK_MS parks in the arbiter instead (a futex sleep
 * blocks the event loop between slices); and an abort delivered by the turn between two slices ends the
 * park there, not after sleeping slices until LOCAL_PARK_MS. A waker that finds a sleeper names its kernel in
 * the slot (the next waiter parks where that waker reaches it at once).
 */
import { expect, test } from "bun:test";
import { Parker, type ParkingClient, ParkSite } from "../src/guest/parking.ts";
import { computeGeometry, PARKABLE_WORDS, parkedCount, parkRecord } from "../src/region/layout.ts";
import type { WakeMailbox } from "../src/region/mailbox.ts";

const SLOT = 5;
const [LOCK] = PARKABLE_WORDS;
const EXPECTED = 0x20;
const HERE = 0x444;
/** Parking.ts's LOCAL_PARK_MS: a wait begun this long ago no longer futex-parks. */
const LOCAL_PARK_MS = 500;

function setUp(onSleep: (sleeps: number) => void) {
  const geometry = computeGeometry(1 << 20, 4096, 8);
  const events: string[] = [];
  const client = {
    words: new Int32Array((geometry.slotOffset + geometry.slotCount * 64) / 4),
    geometry,
    lost: undefined as Error | undefined,
    waitWord: async () => {
      events.push("wait in arbiter");
      Atomics.store(client.words, site.wordIndex, EXPECTED + 1);
      return true;
    },
    wakeWord: () => void events.push("wake via arbiter"),
    flushWrites: () => void events.push("flush"),
    owedWakes: new Map<number, number>(),
  } satisfies ParkingClient;
  let sleeps = 0;
  const mailbox = {
    domain: HERE,
    load: () => 0,
    sleep: () => {
      events.push("sleep");
      onSleep(++sleeps);
      return 0;
    },
    wake: () => 0,
  } as unknown as WakeMailbox;
  const site = new ParkSite(client, SLOT, LOCK!);
  client.words[site.wordIndex] = EXPECTED;
  return { client, site, events, parker: new Parker(client, mailbox) };
}

test("a first park sleeps on this kernel's futex, what waits for the arbiter sent before each sleep", async () => {
  const { client, site, events, parker } = setUp((sleeps) => {
    if (sleeps === 2) Atomics.store(client.words, site.wordIndex, EXPECTED + 1);
  });
  await parker.park(site, EXPECTED, { startedMs: performance.now(), deadlineMs: Number.POSITIVE_INFINITY });
  expect(events).toEqual(["flush", "sleep", "flush", "sleep"]);
  expect(parkedCount(client.words[site.parkedIndex]!)).toBe(0); // counted out again
});

test("a wait begun LOCAL_PARK_MS ago parks in the arbiter, not on the futex", async () => {
  const { events, parker, site } = setUp(() => {});
  const startedMs = performance.now() - LOCAL_PARK_MS - 1000;
  await parker.park(site, EXPECTED, { startedMs, deadlineMs: Number.POSITIVE_INFINITY });
  expect(events).toEqual(["wait in arbiter"]);
});

test("an abort delivered between two slices ends the futex park after that slice", async () => {
  const controller = new AbortController();
  const { events, parker, site } = setUp((sleeps) => {
    if (sleeps === 1) controller.abort();
  });
  await parker.park(site, EXPECTED, {
    startedMs: performance.now(),
    deadlineMs: Number.POSITIVE_INFINITY,
    signal: controller.signal,
  });
  expect(events.filter((event) => event === "sleep")).toEqual(["sleep"]);
});

test("a waker that finds someone parked names its kernel in the slot; one that finds nobody writes nothing", () => {
  const { client, site, parker } = setUp(() => {});
  parker.wake(site, 1);
  expect(client.words[site.lastWakerIndex]).toBe(0);
  client.words[site.parkedIndex] = parkRecord(HERE, 1);
  parker.wake(site, 1);
  expect(client.words[site.lastWakerIndex]).toBe(HERE);
});

/**
 * A resume with a restarted arbiter moves the client to the wake-up file now at the region's path
 * (wake-file.ts, Parker.useMailbox), closing the one it parked on. A park under way on the old one ends at
 * its next turn (the caller looks again, and parks on the new one): slept on again, a closed file's
 * descriptor and mapping were gone (a read of it EBADF, a sleep on it EFAULT: a spin until LOCAL_PARK_MS).
 */
test("a futex park under way when the client moves to another wake-up file ends at its next turn", async () => {
  const used: string[] = [];
  const { client, site } = setUp(() => {});
  const mailboxOf = (name: string, onSleep = () => {}) => {
    let closed = false;
    const touch = (what: string) => {
      if (closed) throw new Error(`${name} ${what} after its close`);
      used.push(`${name} ${what}`);
    };
    return {
      domain: HERE,
      load: () => {
        touch("load");
        return 0;
      },
      sleep: () => {
        touch("sleep");
        onSleep();
        return 0;
      },
      wake: () => 0,
      close: () => {
        closed = true;
      },
    } as unknown as WakeMailbox;
  };
  const old = mailboxOf("old");
  // Its first sleep ends with the word changed: the waiter's wake-up, on the new file.
  const next = mailboxOf("new", () => Atomics.store(client.words, site.wordIndex, EXPECTED + 1));
  const moving = new Parker(client, old);
  // The resume runs in a turn between two slices of the sleep.
  const resumed = Bun.sleep(0).then(() => moving.useMailbox(next));
  await moving.park(site, EXPECTED, { startedMs: performance.now(), deadlineMs: Number.POSITIVE_INFINITY });
  await resumed;
  expect(moving.mailbox).toBe(next);
  expect(used.filter((use) => use.startsWith("old")).length).toBeGreaterThan(0);
  // Looked again, the waiter parks on the new file.
  const slept = used.length;
  await moving.park(site, EXPECTED, { startedMs: performance.now(), deadlineMs: Number.POSITIVE_INFINITY });
  expect(used.slice(slept)).toEqual(["new load", "new sleep"]);
});
