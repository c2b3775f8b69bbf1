/**
 * Edges of src/guest/client.ts's session (mutation round 20). Against a real arbiter: the heartbeat timer
 * ticks six times a lease; close() withdraws the data area before its goodbye is answered, and leaves no
 * descriptor or mapping of the wake mailbox; a connect() given 0 ms still gives its one hello a second.
 * A client's lease keeper (src/guest/lease-keeper.ts) on a scripted transport, the clock moved by hand: an arbiter silent past half the lease puts it in doubt; a tick after a freeze past half the lease
 * leaves the client frozen until the lease is confirmed; a silent arbiter is given up on after the longer
 * of the reconnect timeout and the lease, not the reconnect timeout alone.
 */

import { ptr } from "bun:ffi";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import type { IvshError } from "../src/errors.ts";
import type { Client } from "../src/guest/client.ts";
import { connect } from "../src/guest/index.ts";
import { LeaseKeeper } from "../src/guest/lease-keeper.ts";
import type { Transport } from "../src/guest/transport.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
const LEASE_MS = 3000;

beforeAll(async () => {
  paths = testPaths("client-session-edges");
  arbiter = await ArbiterProcess.start(paths, { lease: `${LEASE_MS}ms` });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("the heartbeat timer ticks six times a lease", async () => {
  const delays: (number | undefined)[] = [];
  const original = globalThis.setInterval;
  globalThis.setInterval = ((handler: () => void, delay?: number) => {
    delays.push(delay);
    return original(handler, delay);
  }) as typeof setInterval;
  let client: Client | undefined;
  try {
    client = await connect({ socket: paths.socket, region: paths.region, name: "ticks" });
  } finally {
    globalThis.setInterval = original;
  }
  try {
    expect(client.leaseMs).toBe(LEASE_MS);
    expect(delays).toContain(LEASE_MS / 6);
    expect(delays).not.toContain(LEASE_MS);
  } finally {
    await client.close();
  }
});

/** The permissions ("rw-s", "---p", ...) of this process's mapping that holds `address`. */
function protectionAt(address: number): string | undefined {
  for (const line of readFileSync("/proc/self/maps", "utf8").split("\n")) {
    const match = /^([0-9a-f]+)-([0-9a-f]+) (\S+)/.exec(line);
    if (match && Number.parseInt(match[1]!, 16) <= address && address < Number.parseInt(match[2]!, 16))
      return match[3];
  }
  return undefined;
}

test("close() withdraws a held segment's memory at once, before its goodbye is answered", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region, name: "withdraws" });
  const segment = await client.alloc(65536);
  const address = ptr(segment.bytes);
  expect(protectionAt(address)).toBe("rw-s");
  const closing = client.close(); // the goodbye is on its way: the arbiter may give the blocks away
  try {
    expect(protectionAt(address)).toBe("---p");
  } finally {
    await closing;
  }
});

test("close() leaves no descriptor or mapping of the wake mailbox", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region, futexParking: true });
  const mailbox = /^futex in (\S+), else the arbiter$/.exec(client.parking)?.[1];
  if (!mailbox) throw new Error(`no wake mailbox here: ${client.parking}`);
  const held = () => ({
    fds: readdirSync("/proc/self/fd").filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === mailbox;
      } catch {
        return false;
      }
    }).length,
    maps: readFileSync("/proc/self/maps", "utf8")
      .split("\n")
      .filter((line) => line.endsWith(` ${mailbox}`)).length,
  });
  expect(held().fds).toBe(1);
  await client.close();
  expect(held()).toEqual({ fds: 0, maps: 0 });
});

test("connect() given 0 ms still gives its one hello its second", async () => {
  // The hello's wait is a timer of its own: read from the timers made, not timed.
  const delays: (number | undefined)[] = [];
  const original = globalThis.setTimeout;
  globalThis.setTimeout = ((handler: () => void, delay?: number) => {
    delays.push(delay);
    return original(handler, delay);
  }) as typeof setTimeout;
  let client: Client | undefined;
  try {
    client = await connect({ socket: paths.socket, region: paths.region, connectTimeoutMs: 0 });
  } finally {
    globalThis.setTimeout = original;
  }
  try {
    expect(client.clientId).toBeGreaterThan(0);
    expect(delays).toContain(1000);
  } finally {
    await client.close();
  }
});

/** A client's lease keeper on a scripted transport: its clock and its transport's are set by the test. */
function scripted(transport: Partial<Transport>, reconnectTimeoutMs?: number, resuming = false) {
  const session = { leaseMs: () => 1000, closing: () => false, resuming: () => resuming, reconnectTimeoutMs };
  const keeper = new LeaseKeeper(transport as Transport, session);
  const inside = keeper as unknown as {
    lastTickMs: number;
    heartbeatInFlight: boolean;
    heartbeatSentMs: number;
    tick(): void;
    giveUpOnSilentArbiter(now: number): void;
  };
  return { keeper, inside };
}

/** A connected transport whose last answer was `agoMs` ago; what it was failed with is collected in `failed`. */
function silentFor(agoMs: number) {
  const failed: IvshError[] = [];
  const transport = {
    connected: true,
    lost: undefined,
    lastAnsweredSentMs: performance.now() - agoMs,
    fail: (error: IvshError) => void failed.push(error),
  };
  return { failed, transport };
}

test("an arbiter that answered nothing for over half the lease puts it in doubt; under half does not", () => {
  const transport = { greeted: true, lastAnsweredSentMs: performance.now() - 250 };
  const { keeper } = scripted(transport);
  expect(keeper.leaseInDoubt()).toBe(false);
  transport.lastAnsweredSentMs = performance.now() - 750;
  expect(keeper.leaseInDoubt()).toBe(true);
});

test("a tick after a freeze past half the lease leaves the client frozen while it confirms the lease", () => {
  const unanswered = () => new Promise<never>(() => {});
  const { keeper, inside } = scripted({ request: unanswered as Transport["request"], greeted: true });
  inside.lastTickMs = performance.now() - 800;
  inside.tick();
  expect(keeper.wasFrozen()).toBe(true);
  expect(keeper.leaseInDoubt()).toBe(true);
});

test("once the arbiter confirms the lease after a freeze, the client is no longer frozen", async () => {
  const answered = () => Promise.resolve({ leaseMs: 1000 });
  const { keeper, inside } = scripted({
    request: answered as unknown as Transport["request"],
    greeted: true,
    lastAnsweredSentMs: performance.now(),
  });
  inside.lastTickMs = performance.now() - 800;
  inside.tick(); // frozen, and asks
  await keeper.confirm();
  expect(keeper.wasFrozen()).toBe(false);
  expect(keeper.leaseInDoubt()).toBe(false);
});

test("a silent arbiter is given up on after the lease when that is longer than the reconnect timeout", () => {
  const { failed, transport } = silentFor(500);
  const { inside } = scripted(transport, 100);
  inside.heartbeatInFlight = true;
  inside.heartbeatSentMs = transport.lastAnsweredSentMs;
  inside.giveUpOnSilentArbiter(performance.now()); // silent 500 ms: past the reconnect timeout, not the lease
  expect(failed).toEqual([]);
  inside.giveUpOnSilentArbiter(performance.now() + 1000); // past the lease too
  expect(failed.map((error) => error.message)).toEqual([expect.stringMatching(/it answered nothing for/)]);
});

// Mutation round 32 (src/guest/lease-keeper.ts): a confirm asked between ticks, and a resume's timeout.
test("a lease confirmed after a freeze the timer has not yet seen ends the doubt; no tick needed", async () => {
  const answered = () => Promise.resolve({ leaseMs: 1000 });
  const { keeper, inside } = scripted({
    request: answered as unknown as Transport["request"],
    greeted: true,
    lastAnsweredSentMs: performance.now(),
  });
  inside.lastTickMs = performance.now() - 800; // stopped past half the lease; the timer has not run since
  expect(keeper.wasFrozen()).toBe(true);
  await keeper.confirm(); // as Client.confirmLease, which a transfer's slot asks after such a gap
  expect(keeper.wasFrozen()).toBe(false);
  expect(keeper.leaseInDoubt()).toBe(false);
});

test("while a resume is under way, a heartbeat unanswered past the limit is the resume's to judge", () => {
  const { failed, transport } = silentFor(5000);
  const { inside } = scripted(transport, 100, true);
  inside.heartbeatInFlight = true;
  inside.heartbeatSentMs = transport.lastAnsweredSentMs;
  inside.giveUpOnSilentArbiter(performance.now());
  expect(failed).toEqual([]);
});

test("silence is counted from the heartbeat in flight when nothing was answered since long before it", () => {
  // A process stopped past the limit: its last answer is old, the heartbeat it sent on waking is not.
  const { failed, transport } = silentFor(5000);
  const { inside } = scripted(transport, 100);
  inside.heartbeatInFlight = true;
  inside.heartbeatSentMs = performance.now();
  inside.giveUpOnSilentArbiter(performance.now() + 500); // 500 ms since the heartbeat: within the lease
  expect(failed).toEqual([]);
  inside.giveUpOnSilentArbiter(performance.now() + 1500);
  expect(failed).toHaveLength(1);
});
