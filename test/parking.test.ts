/**
 * Mutex and condvar waits between real processes, on both parking paths (docs/layout.md, "Parking"): on
 * this kernel's futex (the wake mailbox), and with IVSH_FUTEX=0 / `futexParking: false` only in the
 * arbiter. Each scenario runs once per path; every worker is its own process (test/fixtures/
 * parking-worker.ts), so SIGKILL is the real thing. Nothing here asserts a time except the liveness bound
 * derived from the lease: CI is a loaded 2-core machine.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect } from "bun:test";
import { rmSync } from "node:fs";
import { type Client, connect } from "../src/guest/index.ts";
import {
  PARKABLE_WORDS,
  type ParkableWord,
  parkedCount,
  parkedDomain,
  slotWordIndex,
} from "../src/region/layout.ts";
import { kernelDomain, mailboxPath } from "../src/region/mailbox.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import {
  ArbiterProcess,
  clientConfig,
  livenessBoundMs,
  type Spawned,
  spawnFixture,
} from "./helpers/processes.ts";
import { testUnless } from "./helpers/tools.ts";

const LEASE_MS = 2000;
/** What any death or lost wake-up may cost: a lease, the sweep, and a loaded machine's margin. */
const BOUND_MS = livenessBoundMs(LEASE_MS);
/** The producer/consumer run is work, not a liveness event: a generous bound for a loaded machine. */
const WORK_BOUND_MS = 60_000;
const TEST_MS = 120_000;
const [LOCK_WORD, SEQUENCE_WORD] = PARKABLE_WORDS as [ParkableWord, ParkableWord];

const PRODUCERS = 2;
const ITEMS_PER_PRODUCER = 250;
const TOTAL = PRODUCERS * ITEMS_PER_PRODUCER;
/** Word indices of the board segment; passed to the workers so both sides read the same layout. */
const LAYOUT = { head: 0, tail: 1, done: 2, flags: 4, counters: 8, queue: 16, seen: 16 + TOTAL };
const BOARD_BYTES = 4 * (LAYOUT.seen + TOTAL);

interface Mode {
  label: string;
  futex: boolean;
  /** Why this mode cannot run on this machine, printed when its tests are skipped. */
  unavailable?: string;
  /** Set either way: an IVSH_FUTEX inherited from the shell must not pick the path for us. */
  env: Record<string, string>;
}
const MODES: Mode[] = [
  {
    label: "futex parking",
    futex: true,
    env: { IVSH_FUTEX: "1" },
    unavailable:
      kernelDomain() === 0
        ? "this machine has no /proc/sys/kernel/random/boot_id to name its kernel by, so nothing futex-parks"
        : undefined,
  },
  { label: "arbiter parking (IVSH_FUTEX=0)", futex: false, env: { IVSH_FUTEX: "0" } },
];
const ARBITER_ONLY = "arbiter only (futex parking turned off)";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let mailbox: string | undefined;
/** Workers of the running test: one a failed assertion left running is killed before the next test. */
const started: Spawned[] = [];

beforeAll(async () => {
  paths = testPaths("parking");
  arbiter = await ArbiterProcess.start(paths, { lease: `${LEASE_MS}ms` });
  mailbox = mailboxPath(paths.region); // named after the region: found now, while the region exists
});
beforeEach(() => arbiter.revive());
afterEach(async () => {
  for (const worker of started.splice(0))
    if (worker.proc.exitCode === null && worker.proc.signalCode === null) {
      worker.proc.kill("SIGKILL");
      await worker.proc.exited;
    }
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
  if (mailbox) rmSync(mailbox, { force: true }); // beside the region today; removed whatever it moves to
});

function worker(mode: Mode, config: Record<string, unknown>): Spawned {
  const spawned = spawnFixture(
    "parking-worker",
    clientConfig(paths, { layout: LAYOUT, ...config }),
    mode.env,
  );
  started.push(spawned);
  return spawned;
}

/** Waits for a worker's "ready" and checks it parks where the mode says: the switch itself is under test. */
async function ready(spawned: Spawned, mode: Mode): Promise<Record<string, unknown>> {
  const event = await spawned.events.next("ready");
  if (mode.futex) expect(String(event.parking)).toStartWith("futex in ");
  else expect(event.parking).toBe(ARBITER_ONLY);
  return event;
}

function send(spawned: Spawned, command: string): void {
  spawned.proc.stdin.write(`${command}\n`);
  spawned.proc.stdin.flush();
}

/** The exit code must be `expected`; the worker's stderr says why when it is not. */
async function exits(spawned: Spawned, expected: number, boundMs = BOUND_MS): Promise<void> {
  const code = await spawned.exit(boundMs);
  if (code !== expected) throw new Error(`worker exited ${code}, not ${expected}:\n${await spawned.stderr}`);
}

/** The test's own client, parking as the mode says (the switch itself is under test). */
async function observer(mode: Mode, name: string): Promise<Client> {
  const client = await connect({
    socket: paths.socket,
    region: paths.region,
    name,
    futexParking: mode.futex,
  });
  if (mode.futex) expect(client.parking).toStartWith("futex in ");
  else expect(client.parking).toBe(ARBITER_ONLY);
  return client;
}

/** Who is parked on a word now: futex sleepers counted in its park record, and arbiter waiters queued. */
function parkedOn(client: Client, slot: number, parkable: ParkableWord) {
  const { words, geometry } = client;
  const record = Atomics.load(words, slotWordIndex(geometry, slot, parkable.parked));
  const queued = Atomics.load(words, slotWordIndex(geometry, slot, parkable.queued));
  const futex = parkedDomain(record) === kernelDomain() ? parkedCount(record) : 0;
  return { futex, arbiter: queued };
}

async function arbiterWaiters(client: Client, slot: number): Promise<number> {
  const status = await client.status();
  return status.sync.find((object) => object.slot === slot)?.waiters ?? 0;
}

/**
 * Waits until at least `count` more than `baseline` waiters are parked on the word, and those counted in
 * the arbiter are in its queue (a waiter announces itself before its WAIT arrives). Polls fast: a futex
 * sleeper moves on to the arbiter after 500 ms, and the futex scenarios want to act before that.
 */
async function untilParked(
  client: Client,
  slot: number,
  parkable: ParkableWord,
  count: number,
  baseline = 0,
) {
  const deadline = performance.now() + BOUND_MS;
  for (;;) {
    const seen = parkedOn(client, slot, parkable);
    if (seen.futex + seen.arbiter >= baseline + count) {
      while ((await arbiterWaiters(client, slot)) < seen.arbiter - baseline) {
        if (performance.now() > deadline) throw new Error(`the arbiter never queued ${seen.arbiter} waiters`);
        await Bun.sleep(5);
      }
      return seen;
    }
    if (performance.now() > deadline) throw new Error(`${count} waiters did not park within ${BOUND_MS} ms`);
    await Bun.sleep(2);
  }
}

/** Where the futex path was meant to run but the waiters had moved on (a starved test): say so. */
function noteIfNotFutex(mode: Mode, futexParked: number, what: string): void {
  if (mode.futex && futexParked === 0)
    console.log(`note: ${what} had moved on to the arbiter before the test acted (a loaded machine)`);
}

interface Tally {
  futex: number;
  arbiter: number;
  foreign: number;
}

for (const mode of MODES) {
  const modeTest = (name: string, run: () => Promise<void>, timeoutMs: number) =>
    testUnless(mode.unavailable, name, run, timeoutMs);
  describe(mode.label, () => {
    modeTest(
      "2 producers, 2 consumers and a process notifying at random: every item consumed exactly once",
      async () => {
        const client = await observer(mode, "pc-observer");
        const tag = mode.futex ? "futex" : "arbiter";
        const boardSegment = await client.alloc(BOARD_BYTES, { name: `pc-board-${tag}`, mode: "write" });
        const board = new Int32Array(
          boardSegment.bytes.buffer,
          boardSegment.bytes.byteOffset,
          BOARD_BYTES >> 2,
        );
        const cv = await client.condvar(`pc-${tag}`);
        const shared = { cv: `pc-${tag}`, board: `pc-board-${tag}`, total: TOTAL };
        const producers = [0, 1].map((index) =>
          worker(mode, { ...shared, role: "producer", index, count: ITEMS_PER_PRODUCER }),
        );
        const consumers = [0, 1].map(() => worker(mode, { ...shared, role: "consumer" }));
        const noise = worker(mode, { ...shared, role: "noise" });
        const everyone = [...producers, ...consumers, noise];
        for (const each of everyone) await ready(each, mode);
        for (const each of everyone) send(each, "go");

        const reports = await Promise.all(everyone.map((each) => each.events.next("done", WORK_BOUND_MS)));
        for (const each of everyone) await exits(each, 0, WORK_BOUND_MS);
        const produced = reports.slice(0, PRODUCERS).map((report) => report.produced as number);
        const consumed = reports.slice(PRODUCERS, PRODUCERS + 2).map((report) => report.consumed as number);
        expect(produced).toEqual([ITEMS_PER_PRODUCER, ITEMS_PER_PRODUCER]);
        expect(consumed[0]! + consumed[1]!).toBe(TOTAL);
        expect(reports[4]!.signals as number).toBeGreaterThan(0);
        expect([board[LAYOUT.head], board[LAYOUT.tail], board[LAYOUT.done]]).toEqual([TOTAL, TOTAL, 1]);
        // Exactly once: an item lost, or taken twice by consumers racing past the lock, shows here.
        const wrong = [...board.subarray(LAYOUT.seen, LAYOUT.seen + TOTAL)]
          .map((times, item) => ({ item, times }))
          .filter(({ times }) => times !== 1);
        expect(wrong).toEqual([]);

        // Which path ran: the wakers looked at the park records just before each wake.
        const tally = reports
          .map((report) => report.parked as Tally)
          .reduce((sum, one) => ({
            futex: sum.futex + one.futex,
            arbiter: sum.arbiter + one.arbiter,
            foreign: sum.foreign + one.foreign,
          }));
        expect(tally.foreign).toBe(0);
        if (mode.futex) expect(tally.futex).toBeGreaterThan(0);
        else
          expect({ futex: tally.futex, parkedInArbiter: tally.arbiter > 0 }).toEqual({
            futex: 0,
            parkedInArbiter: true,
          });
        // The lock is free and nobody died with it.
        expect(await cv.acquire()).toBe("acquired");
        cv.release();
        await client.close();
      },
      TEST_MS,
    );

    modeTest(
      "a waiter SIGKILLed while parked: the other waiters and the waker finish; a later wait, notify and lock work",
      async () => {
        const client = await observer(mode, "killed-waiter-observer");
        const tag = mode.futex ? "futex" : "arbiter";
        const boardSegment = await client.alloc(4096, { name: `kw-board-${tag}`, mode: "write" });
        const board = new Int32Array(boardSegment.bytes.buffer, boardSegment.bytes.byteOffset, 1024);
        // The test holds the condvar throughout: the slot, and what the dead waiter left in it, stay.
        const cv = await client.condvar(`kw-${tag}`);
        const shared = { role: "waiter", cv: `kw-${tag}`, board: `kw-board-${tag}`, flag: 0 };
        const waiters = [0, 1, 2].map(() => worker(mode, shared));
        for (const each of waiters) await ready(each, mode);
        for (const each of waiters) send(each, "go");
        for (const each of waiters) await each.events.next("waiting");
        const parked = await untilParked(client, cv.slot, SEQUENCE_WORD, 3);
        noteIfNotFutex(mode, parked.futex, "the waiters");
        if (!mode.futex) expect(parked.futex).toBe(0);

        const [victim, ...survivors] = waiters as [Spawned, Spawned, Spawned];
        victim.proc.kill("SIGKILL");
        await exits(victim, 137);
        // One notify per live waiter, as their user would send; the dead one must not swallow a wake-up
        // for good (the sequence moved: a waiter passed over re-checks at its slice's end or the sweep).
        const waker = worker(mode, {
          role: "waker",
          cv: `kw-${tag}`,
          board: `kw-board-${tag}`,
          flag: 0,
          notifies: 2,
        });
        await waker.events.next("done", BOUND_MS);
        await exits(waker, 0);
        for (const each of survivors) {
          const woken = await each.events.next("woken", BOUND_MS);
          // Nobody held the lock when the victim died: "owner-died" would be wrong here.
          expect((woken.results as string[]).every((result) => result === "notified")).toBe(true);
          await exits(each, 0);
        }

        // Later: a new waiter on the same condvar (the dead one's count may still sit in the slot).
        const stuck = parkedOn(client, cv.slot, SEQUENCE_WORD);
        const late = worker(mode, { ...shared, flag: 1 });
        await ready(late, mode);
        send(late, "go");
        await late.events.next("waiting");
        await untilParked(client, cv.slot, SEQUENCE_WORD, 1, stuck.futex + stuck.arbiter);
        expect(await cv.acquire()).toBe("acquired");
        board[LAYOUT.flags + 1] = 1;
        cv.notify();
        cv.release();
        const woken = await late.events.next("woken", BOUND_MS);
        expect(woken.results).toEqual(["notified"]);
        await exits(late, 0);
        expect(await cv.acquire()).toBe("acquired");
        cv.release();
        await client.close();
      },
      TEST_MS,
    );

    modeTest(
      "a waker killed between its store and its wake: the parked waiter still returns within the liveness bound",
      async () => {
        const client = await observer(mode, "lost-wake-observer");
        const tag = mode.futex ? "futex" : "arbiter";
        const name = `lw-${tag}`;
        const cv = await client.condvar(name);
        const sequenceIndex = slotWordIndex(client.geometry, cv.slot, SEQUENCE_WORD.word);
        // First a bumper that never opened the condvar: its death wakes nobody, only the waiter's own
        // re-check (futex slice, arbiter sweep) can find the change. Then one that holds it, as a real
        // notifier would: its session's end wakes the slot as well.
        for (const hold of [false, true]) {
          const bumper = worker(mode, { role: "bumper", slot: cv.slot, cv: name, hold });
          await ready(bumper, mode);
          const waiter = worker(mode, { role: "waiter", cv: name, once: true });
          await ready(waiter, mode);
          send(waiter, "go");
          await waiter.events.next("waiting");
          const before = Atomics.load(client.words, sequenceIndex);
          await untilParked(client, cv.slot, SEQUENCE_WORD, 1);
          send(bumper, "bump");
          const bumped = await bumper.events.next("bumped", BOUND_MS);
          await exits(bumper, 137);
          const parked = bumped.parked as Tally;
          // The bumper saw the waiter parked: the test saw it so, and nothing has woken it since.
          expect(parked.futex + parked.arbiter).toBeGreaterThan(0);
          noteIfNotFutex(mode, parked.futex, "the waiter");
          if (!mode.futex) expect(parked.futex).toBe(0);
          // A Timeout in next() (the bound) if the change is never noticed: the wake-up was lost.
          const woken = await waiter.events.next("woken", BOUND_MS);
          expect(woken.results).toEqual(["notified"]);
          await exits(waiter, 0);
          expect(Atomics.load(client.words, sequenceIndex)).toBe(before + 1);
          expect(bumped.sequence).toBe(before + 1);
        }
        expect(await cv.acquire()).toBe("acquired");
        cv.release();
        await client.close();
      },
      TEST_MS,
    );

    modeTest(
      "a holder SIGKILLed while others race for the lock, then while they are parked: all acquire, one is told owner-died",
      async () => {
        const client = await observer(mode, "dead-holder-observer");
        const tag = mode.futex ? "futex" : "arbiter";
        const boardSegment = await client.alloc(4096, { name: `dh-board-${tag}`, mode: "write" });
        const board = new Int32Array(boardSegment.bytes.buffer, boardSegment.bytes.byteOffset, 1024);
        for (const [phase, parkFirst] of [
          ["race", false],
          ["parked", true],
        ] as const) {
          const name = `dh-${phase}-${tag}`;
          const holder = worker(mode, { role: "holder", mutex: name });
          const holding = await holder.events.next("holding");
          // Opened while the holder lives, so the slot (and its OWNER_DIED) outlives the holder.
          const mutex = await client.mutex(name);
          expect(mutex.owner).toBe(holding.clientId as number);
          const counter = phase === "race" ? 0 : 1;
          const lockers = [0, 1, 2].map(() =>
            worker(mode, { role: "locker", mutex: name, board: `dh-board-${tag}`, counter }),
          );
          for (const each of lockers) await ready(each, mode);
          for (const each of lockers) send(each, "go");
          if (parkFirst) {
            const parked = await untilParked(client, mutex.slot, LOCK_WORD, 3);
            noteIfNotFutex(mode, parked.futex, "the lockers");
            if (!mode.futex) expect(parked.futex).toBe(0);
          }
          // "race": the lockers are starting, spinning or just parking as the holder dies.
          holder.proc.kill("SIGKILL");
          await exits(holder, 137);
          const outcomes: string[] = [];
          for (const each of lockers) {
            outcomes.push((await each.events.next("locked", BOUND_MS)).outcome as string);
            await exits(each, 0);
          }
          // The dead holder's lock went to exactly one of them as "owner-died"; the rest had it plainly.
          expect(outcomes.toSorted()).toEqual(["acquired", "acquired", "owner-died"]);
          expect(board[LAYOUT.counters + counter]).toBe(3);
          expect(await mutex.lock()).toBe("acquired"); // told once: the lock is ordinary again
          mutex.unlock();
        }
        await client.close();
      },
      TEST_MS,
    );
  });
}
