/**
 * Honest clients next to the fuzzer, each its own process: a fixed amount of real work through the library
 * with an exact expected result. Two run at once (index 0 and 1) and meet on named objects: private
 * allocations written and read back, a segment each allocates and the other opens and checks, a mutex
 * guarding a shared counter both increment, and a condition-variable ping-pong. A worker prints one JSON
 * line and exits 0 only if every figure is exactly right.
 *
 * `HonestRounds` runs pairs of them in the fuzzer's process, one pair after another for as long as the
 * fuzz runs (at least one pair); any other ending is a violation, since nothing the fuzz connections do
 * may disturb them. `bun test/fuzz/honest.ts CONFIG` is one worker.
 */
import { type Client, connect, isIvshError, type Segment } from "../../src/guest/index.ts";
import { type FuzzStats, HONEST } from "./report.ts";

interface HonestConfig {
  socket: string;
  region: string;
  prefix: string;
  index: 0 | 1;
  allocations: number;
  increments: number;
  turns: number;
}

/** This worker's orders (set when the file runs as a worker process). */
let config: HonestConfig;
const SHARED_BYTES = 4096;
const PEER_BYTES = 200_000;
const GIVE_UP_MS = 120_000;
let step = "connect";

function pattern(seed: number, at: number): number {
  return (Math.imul(at + 1, 2654435761) ^ seed) >>> 24;
}

function fill(bytes: Uint8Array, seed: number): void {
  for (let at = 0; at < bytes.byteLength; at++) bytes[at] = pattern(seed, at);
}

function verify(bytes: Uint8Array, seed: number, what: string): void {
  for (let at = 0; at < bytes.byteLength; at++)
    if (bytes[at] !== pattern(seed, at))
      throw new Error(`${what}: byte ${at} is ${bytes[at]}, wrote ${pattern(seed, at)}`);
}

/** Opens a segment the other worker creates; it may not exist yet. */
async function openWhenThere(client: Client, name: string, mode: "read" | "write"): Promise<Segment> {
  const deadline = Date.now() + GIVE_UP_MS;
  for (;;) {
    try {
      return await client.open(name, mode);
    } catch (error) {
      if (!isIvshError(error, "NotFound") || Date.now() > deadline) throw error;
      await Bun.sleep(10);
    }
  }
}

async function privateAllocations(client: Client): Promise<void> {
  for (let round = 0; round < config.allocations; round++) {
    const size = 1 + ((round * 7919 + config.index * 104_729) % 300_000);
    const segment = await client.alloc(size);
    fill(segment.bytes, round * 2 + config.index);
    verify(segment.bytes, round * 2 + config.index, `allocation ${round}`);
    await segment.free();
  }
}

async function countUnderMutex(client: Client, counter: Int32Array): Promise<void> {
  const mutex = await client.mutex(`${config.prefix}-mutex`);
  for (let done = 0; done < config.increments; done++) {
    await mutex.lock();
    const seen = Atomics.load(counter, 0);
    if (done % 8 === 0) await Bun.sleep(0); // let the other worker contend while the lock is held
    Atomics.store(counter, 0, seen + 1);
    mutex.unlock();
  }
  await mutex.close();
}

/** Turns alternate: worker 0 takes even turns, worker 1 odd ones, each waiting for the other's notify. */
async function pingPong(client: Client, turn: Int32Array): Promise<void> {
  const condvar = await client.condvar(`${config.prefix}-cv`);
  const last = 2 * config.turns;
  for (;;) {
    await condvar.acquire();
    while (Atomics.load(turn, 1) % 2 !== config.index && Atomics.load(turn, 1) < last) await condvar.wait();
    const finished = Atomics.load(turn, 1) >= last;
    if (!finished) Atomics.add(turn, 1, 1);
    condvar.notify();
    condvar.release();
    if (finished) break;
  }
  await condvar.close();
}

async function barrier(words: Int32Array): Promise<void> {
  Atomics.add(words, 2, 1);
  const deadline = Date.now() + GIVE_UP_MS;
  while (Atomics.load(words, 2) < 2) {
    if (Date.now() > deadline) throw new Error("the other worker never reached the end");
    await Bun.sleep(5);
  }
}

async function work(): Promise<void> {
  const client = await connect({
    socket: config.socket,
    region: config.region,
    name: `honest-${config.index}`,
  });
  step = "private allocations";
  await privateAllocations(client);
  step = "shared segment";
  const sharedName = `${config.prefix}-shared`;
  const shared =
    config.index === 0
      ? await client.alloc(SHARED_BYTES, { name: sharedName })
      : await openWhenThere(client, sharedName, "write");
  const words = new Int32Array(shared.bytes.buffer, shared.bytes.byteOffset, 4);
  const mine = await client.alloc(PEER_BYTES, { name: `${config.prefix}-seg-${config.index}` });
  fill(mine.bytes, 1000 + config.index);
  step = "mutex counter";
  await countUnderMutex(client, words);
  step = "condvar ping-pong";
  await pingPong(client, words);
  step = "peer's segment";
  const peer = await openWhenThere(client, `${config.prefix}-seg-${1 - config.index}`, "read");
  verify(peer.bytes, 1001 - config.index, "the other worker's segment");
  await peer.free();
  step = "barrier";
  await barrier(words);
  const result = { counter: Atomics.load(words, 0), turns: Atomics.load(words, 1) };
  if (result.counter !== 2 * config.increments || result.turns !== 2 * config.turns)
    throw new Error(
      `counter ${result.counter} (want ${2 * config.increments}), turns ${result.turns} (want ${2 * config.turns})`,
    );
  await mine.free();
  await shared.free();
  await client.close();
  process.stdout.write(`${JSON.stringify({ event: "done", index: config.index, ...result })}\n`);
}

/** Runs as one worker process: the JSON config is the first argument. */
function runWorker(): void {
  config = JSON.parse(process.argv[2] ?? "{}") as HonestConfig;
  const watchdog = setTimeout(() => {
    process.stdout.write(
      `${JSON.stringify({ event: "failed", step, error: `stuck for ${GIVE_UP_MS} ms` })}\n`,
    );
    process.exit(2);
  }, GIVE_UP_MS * 2);
  work().then(
    () => {
      clearTimeout(watchdog);
      process.exit(0);
    },
    (error: unknown) => {
      process.stdout.write(`${JSON.stringify({ event: "failed", step, error: String(error) })}\n`);
      process.exit(1);
    },
  );
}

// ---- the rounds, in the fuzzer's process ----

const WORKER = import.meta.path;

export interface HonestOptions {
  socket: string;
  region: string;
  seed: number;
  stats: FuzzStats;
  allocations?: number;
  increments?: number;
  turns?: number;
}

interface WorkerResult {
  exitCode: number;
  output: string;
  errors: string;
}

export class HonestRounds {
  /** Pairs that finished with the expected result. */
  passed = 0;
  failed = 0;
  private stopping = false;
  private running: Promise<void> | undefined;

  constructor(private readonly options: HonestOptions) {}

  start(): void {
    this.running = this.loop();
  }

  /** Lets the current pair finish (and starts no other); resolves when it has. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
  }

  private async loop(): Promise<void> {
    for (let round = 0; round === 0 || !this.stopping; round++) await this.round(round);
  }

  private async round(round: number): Promise<void> {
    const prefix = `honest-${this.options.seed}-${round}`;
    const results = await Promise.all([this.spawn(prefix, 0), this.spawn(prefix, 1)]);
    const expected = (index: number) => ({
      event: "done",
      index,
      counter: 2 * (this.options.increments ?? 1000),
      turns: 2 * (this.options.turns ?? 100),
    });
    const problems = results.flatMap((result, index) => {
      const line = result.output.trim().split("\n").at(-1) ?? "";
      const ok = result.exitCode === 0 && line === JSON.stringify(expected(index));
      return ok
        ? []
        : [
            `worker ${index} of round ${round} exited ${result.exitCode}: ${line} ${result.errors.slice(-800)}`,
          ];
    });
    if (problems.length === 0) this.passed++;
    else {
      this.failed++;
      this.options.stats.violate(HONEST, 0, "honest", problems.join("; "));
    }
  }

  private async spawn(prefix: string, index: 0 | 1): Promise<WorkerResult> {
    const { socket, region, allocations = 40, increments = 1000, turns = 100 } = this.options;
    const orders: HonestConfig = { socket, region, prefix, index, allocations, increments, turns };
    const proc = Bun.spawn([process.execPath, WORKER, JSON.stringify(orders)], {
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1" },
    });
    const [output, errors, exitCode] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    return { exitCode, output, errors };
  }
}

if (import.meta.main) runWorker();
