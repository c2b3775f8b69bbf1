/**
 * What each fuzz connection does, chosen from its own random stream: mostly a working session, and
 * otherwise a misbehaving greeting (requests before hello, identify twice or after a bad name, wrong
 * magic or version, unknown tokens), raw garbage, a resume with another session's token, a flood after a
 * fatal frame, or a handover of a parked wait (below).
 */
import {
  FRAME_HEADER_BYTES,
  PROTOCOL_VERSION,
  WAIT_FOREVER,
  WaitOutcome,
  WIRE_MAGIC,
} from "../../src/protocol/messages.ts";
import type { Unit } from "./link.ts";
import { invalidUtf8, mutate } from "./mutate.ts";
import type { FuzzSession } from "./session.ts";

type Scenario = (session: FuzzSession) => Promise<void>;

const GREETINGS = {
  "before-hello": 3,
  "hello-version": 2,
  "hello-magic": 2,
  "hello-short": 2,
  "hello-token": 2,
  "identify-bad": 3,
  "identify-twice": 2,
  "identify-ok": 2,
  "hello-mutated": 6,
};

async function working(session: FuzzSession): Promise<void> {
  await session.greet();
  await session.work(session.rng.range(3, 40));
}

/** Frames a connection must not start with, then (if it may go on) a hello and some work. */
async function greeting(session: FuzzSession): Promise<void> {
  const { rng, requests } = session;
  const hello = (fields: Record<string, number | string>) =>
    requests.build("hello", {
      magic: WIRE_MAGIC,
      version: PROTOCOL_VERSION,
      clientName: "fuzz",
      pid: 1,
      sessionToken: "",
      ...fields,
    }).bytes;
  const kind = rng.weighted(GREETINGS);
  const frames: Uint8Array[] = {
    "before-hello": () => [requests.work().bytes],
    "hello-version": () => [hello({ version: rng.pick([0, 2, 42, 0xffff]) })],
    "hello-magic": () => [hello({ magic: rng.next() })],
    "hello-short": () => [shortHello(rng.int(6), rng.bytes(6))],
    "hello-token": () => [hello({ sessionToken: Buffer.from(rng.bytes(16)).toString("hex") })],
    "identify-bad": () => [requests.identify(badVmName(rng.int(6), rng)).bytes],
    "identify-twice": () => [requests.identify("vm-a").bytes, requests.identify("vm-b").bytes],
    "identify-ok": () => [requests.identify(`vm-${rng.int(3)}`).bytes],
    "hello-mutated": () => [mutate(rng, requests, requests.hello()).bytes],
  }[kind]();
  await session.exchange(frames.map((bytes) => session.unit(bytes, `greeting:${kind}`)));
  if (session.link.usable && session.model.phase === "greeting") await session.greet();
  await session.work(rng.range(0, 6));
}

function shortHello(length: number, filler: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(FRAME_HEADER_BYTES + length);
  const header = new DataView(bytes.buffer);
  header.setUint32(0, bytes.byteLength, true);
  header.setUint16(4, 1, true);
  header.setUint32(8, 1, true);
  bytes.set(filler.subarray(0, length), FRAME_HEADER_BYTES);
  return bytes;
}

function badVmName(which: number, rng: FuzzSession["rng"]): string {
  return ["", "a".repeat(65), "bad name", "vm/..", "é", new TextDecoder().decode(invalidUtf8(rng, 8))][
    which
  ]!;
}

/** Random bytes, sometimes after a hello, sometimes behind a plausible header. */
async function garbage(session: FuzzSession): Promise<void> {
  const { rng } = session;
  const units: Unit[] = [];
  if (rng.chance(0.5)) units.push(session.unit(session.requests.hello().bytes, "hello"));
  for (let chunk = rng.range(1, 4); chunk > 0; chunk--) {
    const bytes = rng.bytes(rng.range(1, 2048));
    if (rng.chance(0.4) && bytes.byteLength >= FRAME_HEADER_BYTES) plausibleHeader(bytes, rng);
    units.push(session.unit(bytes, "garbage"));
  }
  await session.exchange(units, "per-frame");
  await session.work(rng.range(0, 3));
}

function plausibleHeader(bytes: Uint8Array, rng: FuzzSession["rng"]): void {
  const header = new DataView(bytes.buffer, bytes.byteOffset, FRAME_HEADER_BYTES);
  header.setUint32(0, rng.range(FRAME_HEADER_BYTES, bytes.byteLength + 32), true);
  header.setUint16(4, rng.range(0, 14), true);
  header.setUint8(6, 0);
  header.setUint8(7, 0);
}

/**
 * A hello with a token another fuzz session was given: resumed, or refused as the protocol says. A
 * refusal that leaves the connection open (PermissionDenied: another VM's session) is followed by a hello
 * of its own, as in `greeting`; work sent still greeting could replay the resume's hello, whose answer the
 * model cannot foresee, with more frames behind it.
 */
export async function resume(session: FuzzSession): Promise<void> {
  const token = session.run.tokens.pick(session.rng);
  if (!token) return working(session);
  await session.exchange([session.unit(session.requests.hello(token).bytes, "resume")]);
  if (session.link.usable && session.model.phase === "greeting") await session.greet();
  await session.work(session.rng.range(1, 10));
}

/** A fatal frame, then a flood during the close grace: the arbiter must drop those bytes, not keep them. */
async function floodAfterFatal(session: FuzzSession): Promise<void> {
  await session.greet();
  if (!session.link.usable) return;
  const fatal = session.requests.heartbeat().bytes.slice();
  fatal[6] = 7; // a kind no frame has: BadFrame as soon as the header is in
  const unit = session.unit(fatal, "flood-after-fatal");
  await session.link.send([unit], "one-write");
  const written = await session.link.flood(FLOOD_BYTES, FLOOD_MS);
  session.run.stats.count("flood-after-fatal MiB", Math.round(written / 2 ** 20));
  session.run.checkMemory(session.index, unit.frame);
  await session.link.settle();
}

const FLOOD_BYTES = 384 << 20;
const FLOOD_MS = 1500;

/*
 * Handovers: a parked wait that outlives what it waited on, checked exactly. Afterwards a wake for one
 * waiter must reach the one live waiter. A wait left parked by a session that closed its slot, or by a
 * connection whose session another connection resumed, must not take that wake-up (the live waiter, say
 * an honest client's condition variable in a slot the fuzz session once held, would sleep through it).
 */

/** Long enough that a timed-out wait means the wake-up went elsewhere, short enough to keep runs brisk. */
const LIVE_WAIT_MS = 3000;
const WORD = 1;

/** Creates this connection's own condition variable; its slot, or undefined if that failed. */
async function ownObject(session: FuzzSession, name: string): Promise<number | undefined> {
  const open = session.requests.build("syncOpen", { name, kind: 2, create: 2 });
  await session.exchange([session.unit(open.bytes, "handover:syncOpen")]);
  return [...session.requests.slots].at(-1);
}

/** Parks a live wait and wakes one waiter; the live wait must be the one woken. */
async function wakeTheLiveWaiter(session: FuzzSession, slot: number, stale: string): Promise<void> {
  const { requests } = session;
  const wait = requests.build("wait", { slot, word: WORD, expected: 0, timeoutMs: LIVE_WAIT_MS });
  const wake = requests.build("wake", { slot, word: WORD, count: 1, reply: 1 });
  const units = [session.unit(wait.bytes, "handover:wait"), session.unit(wake.bytes, "handover:wake")];
  await session.exchange(units);
  const outcome = session.waitOutcomes.get(wait.requestId);
  if (session.link.usable && outcome !== WaitOutcome.woken)
    session.violate(
      units[0]!.frame,
      "lost-wake",
      `the only live waiter on slot ${slot} was not woken (outcome ${outcome}): ${stale} took the wake-up`,
    );
}

/**
 * A wait parked forever by a session that then closes the slot, while another session keeps it open:
 * that session's wake must reach its own wait, not the parked one of a session that no longer holds it.
 */
export async function closedWhileWaiting(session: FuzzSession): Promise<void> {
  await session.greet();
  const name = `fz-h${session.index}`;
  const slot = await ownObject(session, name);
  const next = session.sibling();
  try {
    await next.link.open();
    await next.greet();
    const open = next.requests.build("syncOpen", { name, kind: 2, create: 0 });
    await next.exchange([next.unit(open.bytes, "handover:syncOpen")]);
    if (slot === undefined || !next.requests.slots.has(slot) || !session.link.usable) return;
    const park = session.requests.build("wait", { slot, word: WORD, expected: 0, timeoutMs: WAIT_FOREVER });
    const close = session.requests.build("syncClose", { slot });
    const units = [session.unit(park.bytes, "handover:park"), session.unit(close.bytes, "handover:close")];
    await session.exchange(units);
    await wakeTheLiveWaiter(next, slot, "a wait parked before its session closed the slot");
  } finally {
    next.link.end();
  }
}

/** A wait parked on a connection that then closes; its session, resumed elsewhere, waits and is woken. */
export async function resumedWhileWaiting(session: FuzzSession): Promise<void> {
  await session.greet();
  const slot = await ownObject(session, `fz-h${session.index}`);
  const token = session.token;
  if (slot === undefined || token === undefined || !session.link.usable) return;
  const park = session.requests.build("wait", { slot, word: WORD, expected: 0, timeoutMs: WAIT_FOREVER });
  const fatal = session.requests.heartbeat().bytes.slice();
  fatal[6] = 7; // a kind no frame has: the connection closes, its socket lingers (half-open) for a while
  await session.exchange([session.unit(park.bytes, "handover:park"), session.unit(fatal, "handover:fatal")]);
  const next = session.sibling();
  try {
    await next.link.open();
    await next.exchange([next.unit(next.requests.hello(token).bytes, "handover:resume")]);
    // The old connection's grace period may already be over on a slow machine: then there is no session.
    if (next.model.phase !== "ready") return session.run.stats.count("handover:not-resumed");
    await wakeTheLiveWaiter(next, slot, "the wait parked on the connection before the resume");
  } finally {
    next.link.end();
  }
}

/** Weight, scenario, and whether its socket stays writable after the arbiter's end-of-file. */
const SCENARIOS: Record<string, [number, Scenario, boolean?]> = {
  working: [840, working],
  greeting: [70, greeting],
  garbage: [60, garbage],
  resume: [30, resume],
  "flood-after-fatal": [1, floodAfterFatal, true],
  "closed-while-waiting": [4, closedWhileWaiting],
  "resumed-while-waiting": [4, resumedWhileWaiting, true],
};
const WEIGHTS = Object.fromEntries(Object.entries(SCENARIOS).map(([name, [weight]]) => [name, weight]));

/** Runs fuzz connection `session.index` from start to end. */
export async function runConnection(session: FuzzSession): Promise<void> {
  const scenario = session.rng.weighted(WEIGHTS);
  session.run.stats.connections++;
  session.run.stats.count(`connection:${scenario}`);
  try {
    const [, run, halfOpen] = SCENARIOS[scenario]!;
    await session.link.open(halfOpen);
    await run(session);
    await session.finish();
  } finally {
    session.link.end();
  }
}
