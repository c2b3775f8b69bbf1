/**
 * `cv-pair --side a|b`: between the same two processes, a ping-pong (round trips timed by a) and parked
 * wake-ups (b waits idle; a lets it sit past any spin budget, stamps the shared clock and wakes it; b times
 * stamp → running), each through a CondVar and through a Unix socket (docs/bench/README.md).
 *
 * With `--across vm` a is a host process and b runs in a guest, whose clock is not the host's: a times
 * everything, and a parked wake-up becomes a parked round trip (one wake-up each way). The socket is then
 * the VM's network: a listens, b connects to `--address HOST:PORT` (a guestfwd relay to it).
 */
import type { CondVar } from "../guest/sync.ts";
import { SyncWord } from "../region/layout.ts";
import { waitUntil } from "./child.ts";
import { withCondvar } from "./condvar-worker.ts";
import {
  emit,
  MessageLink,
  meet,
  STAMP_BYTES,
  sharedClockMs,
  stampsAt,
  type WorkerFlags,
} from "./worker-io.ts";

// The pair's own words, in the part of a condvar slot ivsh leaves unused (SyncWord.firstUnused..13).
/** Across a VM: where b answers a parked wake-up. */
const ANSWER_WORD = SyncWord.firstUnused;
const TURN_WORD = SyncWord.firstUnused + 1;
const MEET_WORD = SyncWord.firstUnused + 2;
/** A float64 over two words: byte 40 of a 64-byte aligned slot, so 8-byte aligned. */
const STAMP_WORD = SyncWord.firstUnused + 3;
const WAKE_TURN_WORD = SyncWord.firstUnused + 5;
const READY_WORD = SyncWord.firstUnused + 6;
const IDLE_BEFORE_WAKE_MS = 3;
const WARM_UP_ROUNDS = 2000;
const WARM_UP_WAKES = 20;
const READY_TIMEOUT_MS = 30_000;

interface Pair {
  cv: CondVar;
  /** The condvar slot's words. */
  words: Int32Array;
  stamp: Float64Array;
  turnBase: number;
  /** Wake-up rounds so far: the turn numbers go on across calls. */
  wakesDone: number;
}

export async function runCondvarPair(flags: WorkerFlags): Promise<void> {
  const side = flags.string("side");
  await withCondvar(flags, `cv-pair ${side}`, async (client, cv) => {
    const words = client.slotWords(cv.slot);
    // Read before either side counts itself in, so both count turns from the same value.
    const turnBase = Atomics.load(words, TURN_WORD);
    const pair = { cv, words, stamp: stampsAt(words, STAMP_WORD, 1), turnBase, wakesDone: 0 };
    const across = flags.optional("across") === "vm";
    const link = await openLink(side, flags, across, () => meet(words, MEET_WORD, 2));
    try {
      await measurePair(pair, link, side, across, flags);
    } finally {
      link.close();
    }
  });
}

/** Warm-ups, then the timed runs: side a reports the round trips, side b the wake-ups. */
async function measurePair(pair: Pair, link: MessageLink, side: string, across: boolean, flags: WorkerFlags) {
  // Across a VM the two clocks differ: a times round trips on its own, and b's one-way times are dropped.
  const cvWakes = (count: number) => condvarWakes(pair, side, count, across);
  const idle = () => Bun.sleep(IDLE_BEFORE_WAKE_MS);
  const timing = side === (across ? "a" : "b");
  const linkWakes = async (count: number) => {
    const latencies = await socketWakes(link, side, count, idle);
    return timing ? latencies : [];
  };
  const rounds = flags.count("rounds");
  const wakes = flags.count("wakes");
  // Untimed first: the JIT compiles both paths and the spin budget learns this pair's rhythm.
  await condvarPingPong(pair, side, WARM_UP_ROUNDS);
  await socketPingPong(link, side, WARM_UP_ROUNDS);
  await cvWakes(WARM_UP_WAKES);
  await linkWakes(WARM_UP_WAKES);
  const socketFirst = Number(flags.optional("round") ?? 0) % 2 === 1;
  const result: Record<string, number | number[]> = {};
  for (const method of socketFirst ? ["socket", "condvar"] : ["condvar", "socket"]) {
    const started = Bun.nanoseconds();
    if (method === "condvar") await condvarPingPong(pair, side, rounds);
    else await socketPingPong(link, side, rounds);
    result[`${method}RoundTripNs`] = (Bun.nanoseconds() - started) / rounds;
  }
  result.condvarWakeNs = await cvWakes(wakes);
  result.socketWakeNs = await linkWakes(wakes);
  emit({ event: side === "a" ? "round-trips" : "wakes", ...result });
}

/** Even turns are a's, odd turns b's; each side takes `rounds` turns. */
async function condvarPingPong({ cv, words, turnBase: base }: Pair, side: string, rounds: number) {
  const mine = side === "a" ? 0 : 1;
  for (let round = 0; round < rounds; round++) {
    await cv.acquire();
    while (((Atomics.load(words, TURN_WORD) - base) & 1) !== mine) await cv.wait();
    Atomics.add(words, TURN_WORD, 1);
    cv.notify();
    cv.release();
  }
}

/**
 * b waits for each wake turn; a, once b said it is waiting, lets it sit, then notifies. One way, a stamps
 * the shared clock and b times stamp → running; as `roundTrip`, b answers and a times notify → answer.
 */
async function condvarWakes(pair: Pair, side: string, wakes: number, roundTrip: boolean): Promise<number[]> {
  const { cv, words, stamp } = pair;
  const latencies: number[] = [];
  const first = pair.wakesDone + 1;
  pair.wakesDone += wakes;
  for (let round = first; round <= pair.wakesDone; round++) {
    if (side === "a") {
      await waiterReady(words, round);
      await Bun.sleep(IDLE_BEFORE_WAKE_MS);
      await cv.acquire();
      const started = Bun.nanoseconds();
      // A plain store: b reads the stamp only once it holds the lock a releases after this.
      if (!roundTrip) stamp[0] = sharedClockMs();
      Atomics.store(words, WAKE_TURN_WORD, round);
      cv.notify();
      if (roundTrip) {
        while (Atomics.load(words, ANSWER_WORD) < round) await cv.wait();
        latencies.push(Math.round(Bun.nanoseconds() - started));
      }
      cv.release();
      continue;
    }
    await cv.acquire();
    Atomics.store(words, READY_WORD, round);
    while (Atomics.load(words, WAKE_TURN_WORD) < round) await cv.wait();
    if (!roundTrip) latencies.push(Math.round((sharedClockMs() - stamp[0]!) * 1e6));
    else {
      Atomics.store(words, ANSWER_WORD, round);
      cv.notify();
    }
    cv.release();
  }
  return latencies;
}

/** a paces the wake-ups: it waits (sleeping) until b says it is about to wait for round `round`. */
function waiterReady(words: Int32Array, round: number): Promise<void> {
  return waitUntil(() => Atomics.load(words, READY_WORD) === round, "the waiter", READY_TIMEOUT_MS, 1);
}

/**
 * The Unix socket between the pair: b listens and a connects, once both are there; across a VM the other
 * way round, b connecting through the VM's network.
 */
function openLink(side: string, flags: WorkerFlags, across: boolean, both: () => Promise<void>) {
  const [address, peer] = [flags.string("address"), "the other end of the pair"];
  if (side === (across ? "a" : "b")) return MessageLink.accept(address, STAMP_BYTES, peer, both);
  return both().then(() => MessageLink.connect(address, across, STAMP_BYTES, peer));
}

/** `rounds` messages each way, strictly alternating: a sends first. */
async function socketPingPong(link: MessageLink, side: string, rounds: number): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    if (side === "a") link.send(new Uint8Array(STAMP_BYTES));
    await link.next();
    if (side === "b") link.send(new Uint8Array(STAMP_BYTES));
  }
}

/**
 * Wake-ups over a socket, `rounds` of them: a, after `pace`, sends a stamp of the shared clock and times
 * until the answer is back (it returns those round trips); b times stamp → its callback and answers with
 * the stamp, pacing the next (it returns those one-way times, meaningful only on a clock shared with a).
 * The socket floor's pinger (sync-worker.ts) is an a of its own.
 */
export async function socketWakes(
  link: MessageLink,
  side: string,
  rounds: number,
  pace: () => Promise<void>,
): Promise<number[]> {
  const latencies: number[] = [];
  for (let round = 0; round < rounds; round++) {
    if (side === "a") {
      await pace();
      const stamp = new Float64Array([sharedClockMs()]);
      const started = Bun.nanoseconds();
      link.send(new Uint8Array(stamp.buffer));
      await link.next();
      latencies.push(Math.round(Bun.nanoseconds() - started));
      continue;
    }
    const message = await link.next();
    latencies.push(Math.round((sharedClockMs() - new Float64Array(message.buffer)[0]!) * 1e6));
    link.send(message);
  }
  return latencies;
}
