/**
 * The condvar workers (docs/bench/README.md). `cv-loop --side writer|reader --mode ivsh|rpc|socket`: the
 * report's Fig. 1 / 2 loops moving `--bytes` through an `--area` (a "data available" byte, then the chunk)
 * with a CondVar, with an arbiter round trip per operation (the report's design), or over a Unix socket.
 * `cv-pair --side a|b`: a ping-pong (a times it) and parked wake-ups (b times stamp → running), through a
 * CondVar and a socket. `--across vm`: b is in a guest, whose clock is not a's: a times everything, a
 * wake-up becomes a round trip, and the socket is the VM's network (b connects to `--address HOST:PORT`).
 */
import { failure } from "../errors.ts";
import type { Client } from "../guest/client.ts";
import type { CondVar } from "../guest/condvar.ts";
import { SyncWord } from "../region/layout.ts";
import { waitUntil } from "./child.ts";
import { MessageLink, receiveStream, repeatedChunk, STAMP_BYTES, sendStream } from "./sockets.ts";
import { emit, meet, sharedClockMs, stampsAt, type WorkerFlags, withWorkerClient } from "./worker-io.ts";

/** A slot word a condvar leaves free: where the two loop workers count themselves in. */
const START_WORD = SyncWord.firstUnused;
const OPEN_TIMEOUT_MS = 30_000;

const OPS = ["acquire", "release", "wait", "notify"] as const;
type Ops = Record<(typeof OPS)[number], () => unknown>;

/** The CondVar itself, or the report's design: an arbiter round trip (a heartbeat) before every operation. */
function loopOps(client: Client, cv: CondVar, mode: string): Ops {
  const op = (name: (typeof OPS)[number]) =>
    mode === "ivsh"
      ? () => cv[name]()
      : async () => {
          await client.confirmLease();
          await cv[name]();
        };
  return Object.fromEntries(OPS.map((name) => [name, op(name)])) as Ops;
}

/** Runs `work` on the condvar `--name` of a client of its own (futex parking optional, for the RPC loops). */
async function withCondvar(
  flags: WorkerFlags,
  role: string,
  work: (client: Client, cv: CondVar) => Promise<void>,
  futexParking = true,
): Promise<void> {
  await withWorkerClient(
    flags,
    `bench ${role}`,
    async (client) => work(client, await client.condvar(flags.string("name"))),
    { futexParking },
  );
}

export async function runCondvarLoop(flags: WorkerFlags): Promise<void> {
  const mode = flags.string("mode");
  if (mode === "socket") return runSocketLoop(flags);
  const writer = flags.string("side") === "writer";
  const loop = async (client: Client, cv: CondVar) => {
    const area = flags.size("area");
    const segment = writer
      ? await client.alloc(area, { name: flags.string("name") })
      : await openArea(client, flags);
    await meet(client.slotWords(cv.slot), START_WORD, 2);
    const started = Bun.nanoseconds();
    const ops = loopOps(client, cv, mode);
    const chunks = await copyLoop(ops, segment.bytes, flags.size("bytes"), writer);
    emit({ event: "loop", seconds: (Bun.nanoseconds() - started) / 1e9, chunks });
    if (writer) await waitUntilTaken(cv, segment.bytes);
    await segment.free();
  };
  await withCondvar(flags, `cv-loop ${flags.string("side")}`, loop, mode === "ivsh");
}

async function openArea(client: Client, flags: WorkerFlags) {
  const deadline = Date.now() + OPEN_TIMEOUT_MS;
  for (;;) {
    try {
      return await client.open(flags.string("name"), "write");
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await Bun.sleep(2);
    }
  }
}

/** Fig. 1's writer fills the area when empty, Fig. 2's reader empties it; one buffer each, as reported. */
async function copyLoop(ops: Ops, area: Uint8Array, total: number, writer: boolean): Promise<number> {
  const chunk = area.byteLength - 1;
  const buffer = new Uint8Array(chunk).fill(writer ? 0x5a : 0);
  const chunks = Math.ceil(total / chunk);
  for (let i = 0; i < chunks; ) {
    await ops.acquire();
    // The flag and the chunk are plain bytes: the condvar's lock orders them between the two sides.
    if (area[0] === (writer ? 0 : 1)) {
      const length = Math.min(chunk, total - i * chunk);
      if (writer) area.set(buffer.subarray(0, length), 1);
      else buffer.set(area.subarray(1, 1 + length));
      ++i;
      area[0] = writer ? 1 : 0;
      await ops.notify();
    } else await ops.wait();
    await ops.release();
  }
  if (buffer[0] !== 0x5a) throw failure("Internal", "read the report's loop", "the chunk did not arrive");
  return chunks;
}

/** The writer frees the area only after the reader has taken the last chunk. */
async function waitUntilTaken(cv: CondVar, area: Uint8Array): Promise<void> {
  await cv.acquire();
  while (area[0]) await cv.wait();
  cv.release();
}

/** The same chunks through a Unix socket: the writer sends from one buffer, the reader copies into one. */
async function runSocketLoop(flags: WorkerFlags): Promise<void> {
  const total = flags.size("bytes");
  const chunk = flags.size("area") - 1;
  const address = flags.string("address");
  if (flags.string("side") === "reader") {
    const sink = new Uint8Array(chunk);
    const copy = (bytes: Uint8Array, offset: number) => {
      for (let at = 0; at < bytes.byteLength; ) {
        const into = (offset + at) % chunk;
        const take = Math.min(chunk - into, bytes.byteLength - at);
        sink.set(bytes.subarray(at, at + take), into);
        at += take;
      }
      return undefined;
    };
    const ready = () => emit({ event: "ready", address });
    const { seconds } = await receiveStream([address, false], copy, ready, total);
    emit({ event: "loop", seconds, chunks: Math.ceil(total / chunk) });
    return;
  }
  const source = repeatedChunk(new Uint8Array(chunk).fill(0x5a), total);
  // Across a VM the writer is in the guest and reaches the host's reader through the VM's network.
  await sendStream(address, flags.optional("across") === "vm", source);
  emit({ event: "loop", seconds: 0, chunks: Math.ceil(total / chunk) });
}

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

/** b waits each turn; a lets it sit, then notifies: b times stamp → running, or a the round trip. */
async function condvarWakes(pair: Pair, side: string, wakes: number, roundTrip: boolean): Promise<number[]> {
  const { cv, words, stamp } = pair;
  const latencies: number[] = [];
  const first = pair.wakesDone + 1;
  pair.wakesDone += wakes;
  for (let round = first; round <= pair.wakesDone; round++) {
    if (side === "a") {
      // a paces the wake-ups: it waits (sleeping) until b says it is about to wait for this round.
      await waitUntil(() => Atomics.load(words, READY_WORD) === round, "the waiter", READY_TIMEOUT_MS, 1);
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

/** The pair's socket: b listens and a connects once both are there; across a VM the other way round. */
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
 * Wake-ups over a socket: a, after `pace`, sends a stamp and returns the round trips; b returns stamp →
 * callback (meaningful on a clock shared with a) and answers. The socket floor's ping and echo use it too.
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
