/**
 * A soak worker: one process of a lock, condvar or churn workload. Config (JSON, argv[2]): socket, region,
 * mode, index, workers, rounds, seed, names. It reports as JSON lines on stdout: "ready", "owner-died",
 * "violation" (what it saw break), "done"; "error" before exiting 1; "partner-gone" before exiting 3.
 *
 * The shared board (a named segment the soak allocates) holds, as i32 words:
 *   COUNTER: increments under the lock; INSIDE: the client id inside the critical section, 0 when none;
 *   TURN: whose turn it is (condvar); COUNT_BASE + i: worker i's own increments.
 * COUNTER always equals the sum of the per-worker counts, unless an owner died between the two updates:
 * the next owner is told so and repairs it, as a robust-mutex user must.
 */
import { type Client, type CondVar, isIvshError, type Mutex } from "../../src/guest/index.ts";
import { config, connectFromConfig, emit, errorFields } from "../fixtures/_fixture.ts";
import { Prng } from "../helpers/prng.ts";
import { Board } from "./board.ts";

const YIELD_EVERY_MS = 20;
const index = Number(config.index);
const random = new Prng(Number(config.seed), index);
const rounds = Number(config.rounds);
const leaseMs = Number(config.leaseMs);

let lastYield = performance.now();
/** The event loop must run now and then: heartbeats keep this client's lease. */
async function yieldSometimes(): Promise<void> {
  if (performance.now() - lastYield < YIELD_EVERY_MS) return;
  await Bun.sleep(0);
  lastYield = performance.now();
}

/**
 * A process frozen past its lease has lost the lock without knowing: someone else may be inside. It must
 * find out before it touches the protected data (confirmLease throws LeaseExpired then).
 */
async function stillOwner(client: Client): Promise<void> {
  if (client.leaseInDoubt()) await client.confirmLease();
}

/**
 * `made`: this is the first time in on a lock this worker created. A mutex (or condvar) nobody else had
 * open ends with a holder that dies (docs: "a later mutex(name) makes a new, free one"), so a worker that
 * opens it after such a death makes it anew and may find the dead holder's mark on the board without an
 * owner-died: reported as "recreated", which the scenario accepts only for a worker that was killed.
 */
async function criticalSection(
  client: Client,
  board: Board,
  lock: Mutex | CondVar,
  outcome: string,
  made = false,
): Promise<void> {
  const me = client.clientId;
  await stillOwner(client);
  const inside = board.inside;
  if (outcome === "owner-died" || (made && inside !== 0)) {
    emit(outcome === "owner-died" ? "owner-died" : "recreated", { me, inside });
    if (inside !== 0) board.repairAfterDeath();
  } else if (inside !== 0)
    emit("violation", {
      me,
      inside,
      what: `client ${me} entered (${outcome}; lock owner now ${lock.owner}) while client ${inside} was inside`,
    });
  board.enter(me);
  board.increment(index);
  if (random.chance(0.05)) await Bun.sleep(random.range(0, 2));
  await stillOwner(client);
  if (!board.leave(me))
    emit("violation", {
      me,
      inside: board.inside,
      what: `client ${board.inside} entered while ${me} held the lock`,
    });
}

/** Opens the workload's lock, saying whether this worker made it (see criticalSection). */
async function openLock<T>(open: (create: boolean) => Promise<T>): Promise<{ lock: T; made: boolean }> {
  try {
    return { lock: await open(false), made: false };
  } catch (error) {
    if (!isIvshError(error, "NotFound")) throw error;
    return { lock: await open(true), made: true };
  }
}

async function mutexLoop(client: Client, board: Board): Promise<void> {
  const { lock: mutex, made } = await openLock((create) => client.mutex(String(config.lock), create));
  for (let round = 0; round < rounds; round++) {
    const outcome = await mutex.lock();
    await criticalSection(client, board, mutex, outcome, made && round === 0);
    mutex.unlock();
    await yieldSometimes();
  }
}

/** Whether the partner still holds its presence mutex (it takes it at start and keeps it till exit). */
function partnerAlive(presence: Mutex): boolean {
  const taken = presence.tryLock();
  if (taken) presence.unlock();
  return taken === undefined;
}

async function condvarLoop(client: Client, board: Board): Promise<void> {
  const names = config.presence as string[];
  await (await client.mutex(names[index]!)).lock();
  const partner = await client.mutex(names[1 - index]!);
  const deadline = performance.now() + 4 * leaseMs;
  while (!partnerAlive(partner) && performance.now() < deadline) await Bun.sleep(10); // till it has started
  const { lock: condvar, made } = await openLock((create) => client.condvar(String(config.lock), create));
  for (let round = 0; round < rounds; round++) {
    let outcome = await condvar.acquire();
    while (board.turn !== index) {
      const result = await condvar.wait(leaseMs);
      if (result === "owner-died") outcome = result;
      if (result === "timed-out" && !partnerAlive(partner)) {
        condvar.release();
        emit("partner-gone", { round });
        process.exit(3);
      }
    }
    await criticalSection(client, board, condvar, outcome, made && round === 0);
    board.turn = 1 - index;
    condvar.notify();
    condvar.release();
    await yieldSometimes();
  }
}

/** Allocations, names and slots opened and dropped at random: what a killed client leaves must be reclaimed. */
async function churnLoop(client: Client): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    const named = random.chance(0.5) ? { name: `churn-${index}-${round}` } : {};
    const segment = await client.alloc(random.range(1, 4) * 65536, named);
    segment.bytes[random.int(segment.byteLength)] = 1;
    const mutex = await client.mutex(`churn-lock-${random.int(4)}`);
    if (mutex.tryLock()) mutex.unlock();
    if (random.chance(0.8)) await segment.free();
    await mutex.close();
    await yieldSometimes();
  }
}

async function main(): Promise<number> {
  try {
    const client = await connectFromConfig(`soak ${config.mode} ${index}`);
    emit("ready", { clientId: client.clientId, pid: process.pid });
    if (config.mode === "churn") await churnLoop(client);
    else {
      const board = new Board((await client.open(String(config.board), "write")).bytes);
      await (config.mode === "condvar" ? condvarLoop(client, board) : mutexLoop(client, board));
    }
    emit("done", { rounds });
    await client.close();
    return 0;
  } catch (error) {
    emit("error", errorFields(error));
    console.error(isIvshError(error) ? error.message : error);
    return 1;
  }
}

process.exit(await main());
