/**
 * Fig. 4a's workers (docs/bench/README.md): lock cost, and hand-offs on the unused words of a mutex slot. A
 * parked round whose waiter had not parked yet is counted and dropped; odd spinning rounds carry stamps
 * that estimate the offset of the two processes' shared clocks (a check on the parked numbers).
 */
import { failure } from "../errors.ts";
import type { Client } from "../guest/client.ts";
import type { Mutex } from "../guest/sync.ts";
import { SyncWord } from "../region/layout.ts";
import { waitUntil } from "./child.ts";
import { socketWakes } from "./condvar-worker.ts";
import { MessageLink, relay, STAMP_BYTES } from "./sockets.ts";
import { LOCK_METHODS, type LockMethod } from "./suite-data.ts";
import {
  busyWait,
  emit,
  meet,
  sharedClockMs,
  stampsAt,
  type WorkerFlags,
  withWorkerClient,
} from "./worker-io.ts";

/** The benchmark's own words, in the part of a mutex slot ivsh leaves unused (SyncWord.firstUnused..13). */
const COUNTER = SyncWord.firstUnused;
const WAITER_READY = SyncWord.firstUnused + 1;
const MEET = SyncWord.firstUnused + 2;
/** The waker's float64 stamp, then the spinning waiter's reply (8-byte aligned, as slots are 64-byte). */
const STAMP_WORD = SyncWord.firstUnused + 3;
const SETTLE_MS = 1;
const SPIN_TIMEOUT_MS = 10_000;
const WAIT_SLICE_MS = 10_000;

interface Shared {
  readonly client: Client;
  readonly slot: number;
  /** The mutex slot's words. */
  readonly words: Int32Array;
  readonly stamps: Float64Array;
}

/** Both workers on one mutex's slot, once both are there (they meet sleeping: nobody spins alone). */
async function withShared(flags: WorkerFlags, role: string, work: (shared: Shared) => Promise<void>) {
  await withWorkerClient(flags, `bench ${role}`, async (client) => {
    const { slot } = await client.mutex(flags.string("name"));
    const words = client.slotWords(slot);
    await meet(words, MEET, 2);
    await work({ client, slot, words, stamps: stampsAt(words, STAMP_WORD, 2) });
  });
}

function spinUntil(words: Int32Array, word: number, value: number): void {
  const deadline = Date.now() + SPIN_TIMEOUT_MS;
  for (let round = 1; Atomics.load(words, word) !== value; round++)
    if ((round & 0xffff) === 0 && Date.now() > deadline)
      throw failure("Timeout", "spin for the other hand-off worker", `word ${word} never became ${value}`);
}

export async function runHandoffWaiter(flags: WorkerFlags): Promise<void> {
  const rounds = flags.count("rounds");
  await withShared(flags, "handoff-wait", async ({ client, slot, words, stamps }) => {
    if (flags.string("mode") === "spin") {
      for (let round = 1; round <= rounds; round++) {
        spinUntil(words, COUNTER, 2 * round - 1);
        // The seq-cst store of COUNTER below publishes this plain stamp to the pinger, who reads it after.
        if (round % 2 === 1) stamps[1] = sharedClockMs();
        Atomics.store(words, COUNTER, 2 * round);
      }
      emit({ event: "done" });
      return;
    }
    const latenciesNs: number[] = [];
    let unparked = 0;
    for (let round = 1; round <= rounds; round++) {
      Atomics.store(words, WAITER_READY, round + 1);
      let woken = false;
      while (Atomics.load(words, COUNTER) !== round)
        woken = await client.waitWord(slot, COUNTER, round - 1, WAIT_SLICE_MS);
      const resumedMs = sharedClockMs();
      if (woken) latenciesNs.push(Math.round((resumedMs - stamps[0]!) * 1e6));
      else unparked++;
    }
    emit({ event: "latencies", latenciesNs, unparked });
  });
}

export async function runHandoffWaker(flags: WorkerFlags): Promise<void> {
  const rounds = flags.count("rounds");
  await withShared(flags, "handoff-wake", async (shared) => {
    if (flags.string("mode") === "spin") emit({ event: "latencies", ...pingPong(shared, rounds) });
    else {
      await wakeRounds(shared, rounds);
      emit({ event: "done" });
    }
  });
}

/**
 * The waker is a running lock holder: on its core through the settle time (the hand-off times the waiter's
 * and arbiter's wake-ups, not its own), then asleep (spinning on, it would queue the waiter behind it).
 */
async function wakeRounds({ client, slot, words, stamps }: Shared, rounds: number): Promise<void> {
  for (let round = 1; round <= rounds; round++) {
    const ready = () => Atomics.load(words, WAITER_READY) === round + 1;
    await waitUntil(ready, `the waiter's round ${round}`, SPIN_TIMEOUT_MS, SETTLE_MS);
    busyWait(SETTLE_MS);
    // The seq-cst store of COUNTER publishes this plain stamp: the waiter reads it after seeing COUNTER.
    stamps[0] = sharedClockMs();
    Atomics.store(words, COUNTER, round);
    client.wakeWord(slot, COUNTER, 1);
  }
}

/** Even rounds are timed (half a round trip), odd rounds carry stamps for the clock-offset estimate. */
function pingPong({ words, stamps }: Shared, rounds: number) {
  const latenciesNs: number[] = [];
  const offsetsNs: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    const sentMs = sharedClockMs();
    const started = Bun.nanoseconds();
    Atomics.store(words, COUNTER, 2 * round - 1);
    spinUntil(words, COUNTER, 2 * round);
    const roundTrip = Bun.nanoseconds() - started;
    if (round % 2 === 0) latenciesNs.push(Math.round(roundTrip / 2));
    else {
      const replyMs = stamps[1]!;
      offsetsNs.push(Math.round(((replyMs - sentMs - (sharedClockMs() - replyMs)) / 2) * 1e6));
    }
  }
  return { latenciesNs, offsetsNs };
}

/*
 * The OS's wake-up floor (Fig. 4a): a Unix-socket ping-pong shaped like the parked hand-off (the pinger
 * busy 1 ms, the echo idle), straight or through a `relay` (two hops, as waker → arbiter → waiter).
 */
export async function runEcho(flags: WorkerFlags): Promise<void> {
  const address = flags.string("address");
  const ready = async () => emit({ event: "ready", address });
  const link = await MessageLink.accept(address, STAMP_BYTES, "the ping worker", ready);
  try {
    const latenciesNs = await socketWakes(link, "b", flags.count("rounds"), async () => {});
    emit({ event: "latencies", latenciesNs });
  } finally {
    link.close();
  }
}

/** The pinger, an a of the condvar pair's socket wake-ups (condvar-worker.ts), paced as said above. */
export async function runPing(flags: WorkerFlags): Promise<void> {
  const rounds = flags.count("rounds");
  const link = await MessageLink.connect(flags.string("address"), false, STAMP_BYTES, "the echo worker");
  const pace = async () => {
    await Bun.sleep(SETTLE_MS);
    busyWait(SETTLE_MS);
  };
  const roundTripsNs = await socketWakes(link, "a", rounds, pace);
  link.close();
  emit({ event: "round-trips", roundTripsNs });
}

/** Forwards bytes between the one connection it accepts on --address and the socket at --to. */
export async function runRelay(flags: WorkerFlags): Promise<void> {
  await relay(flags.string("address"), flags.string("to"), () => emit({ event: "ready" }));
}

/*
 * Uncontended lock cost (Fig. 4a): `pairs` pairs three ways, rotated by `--round`; rpc's request is a
 * heartbeat, the cheapest the arbiter serves: the least a design that asks a daemon each time pays.
 */
const WARMUP_PAIRS = 2000;

async function fastPairs(mutex: Mutex, pairs: number): Promise<void> {
  for (let pair = 0; pair < pairs; pair++) {
    await mutex.lock();
    mutex.unlock();
  }
}

function tryPairs(mutex: Mutex, pairs: number): void {
  for (let pair = 0; pair < pairs; pair++) {
    if (!mutex.tryLock()) throw failure("Internal", "take an uncontended lock", "tryLock found it taken");
    mutex.unlock();
  }
}

async function rpcPairs(mutex: Mutex, client: Client, pairs: number): Promise<void> {
  for (let pair = 0; pair < pairs; pair++) {
    await client.confirmLease();
    if (!mutex.tryLock()) throw failure("Internal", "take an uncontended lock", "tryLock found it taken");
    mutex.unlock();
    await client.confirmLease();
  }
}

export async function runLocks(flags: WorkerFlags): Promise<void> {
  const pairs = flags.count("pairs");
  const rotation = Number(flags.optional("round") ?? 0);
  await withWorkerClient(flags, "bench locks", async (client) => {
    const mutex = await client.mutex(flags.string("name"));
    const run: Record<LockMethod, (count: number) => Promise<void> | void> = {
      fast: (count) => fastPairs(mutex, count),
      try: (count) => tryPairs(mutex, count),
      rpc: (count) => rpcPairs(mutex, client, count),
    };
    const pairNs: Partial<Record<LockMethod, number>> = {};
    for (let step = 0; step < LOCK_METHODS.length; step++) {
      const method = LOCK_METHODS[(step + rotation) % LOCK_METHODS.length]!;
      await run[method](method === "rpc" ? WARMUP_PAIRS / 10 : WARMUP_PAIRS);
      const started = Bun.nanoseconds();
      await run[method](pairs);
      pairNs[method] = (Bun.nanoseconds() - started) / pairs;
    }
    emit({ event: "locks", pairs, ...pairNs });
  });
}
