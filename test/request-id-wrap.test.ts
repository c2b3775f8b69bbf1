/**
 * A client numbers its requests 1, 2, 3, ... and wraps to 1 after 2^32 - 1 (a lock-heavy client gets there
 * in a day of wakes). The reply cache answers a re-sent request by its id (docs/protocol.md section 11), and
 * it answered a new request with a wrapped id as well: an alloc after the wrap got the cached reply of an
 * alloc 2^32 requests older, a segment freed long before, which the client then took for its own.
 */
import { expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { SlotWord } from "../src/region/layout.ts";
import { eventually } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("request-id-wrap");

/** A liveness bound for what needs a few round trips: generous, for a busy 2-core CI machine. */
const BOUND_MS = 30_000;

const segmentNames = async () =>
  (await fetchStatus({ unix: suite.socket })).report.segments.map((s) => s.name);

test("an alloc whose request id wrapped around is run, not answered with a reply cached 2^32 requests before", async () => {
  const client = await connect({ socket: suite.socket, region: suite.region, name: "wraps" });
  // The request counter, moved on as 2^32 requests would: each step is a request the arbiter sees.
  const transport = (client as unknown as { transport: { nextRequestId: number } }).transport;
  const firstId = transport.nextRequestId;
  const old = await client.alloc(65536, { name: "old" });
  await old.free();
  for (const id of [0x40000000, 0x80000000, 0xc0000000, 0xffffffff]) {
    transport.nextRequestId = id;
    await client.confirmLease(); // a heartbeat
  }
  while (transport.nextRequestId < firstId) await client.confirmLease();
  const fresh = await client.alloc(65536, { name: "fresh" });
  expect(fresh.name).toBe("fresh");
  expect(await segmentNames()).toEqual(["fresh"]);
  await fresh.free();
  await client.close();
});

test("a wait parked before the request ids wrapped is still answered: the wrapped ids skip it", async () => {
  const client = await connect({
    socket: suite.socket,
    region: suite.region,
    name: "parks",
    futexParking: false,
  });
  const mutex = await client.mutex("wrap-parked");
  const transport = (client as unknown as { transport: { nextRequestId: number } }).transport;
  const parkedId = transport.nextRequestId;
  const word = Atomics.load(client.slotWords(mutex.slot), SlotWord.lock);
  const woken = client.waitWord(mutex.slot, SlotWord.lock, word);
  const parked = async () =>
    (await client.status()).sync.some((each) => each.slot === mutex.slot && each.waiters > 0);
  await eventually(parked, BOUND_MS, "the wait parking");
  // The counter wraps to the parked wait's id: the next request must not take it.
  transport.nextRequestId = parkedId;
  await client.confirmLease();
  client.wakeWord(mutex.slot, SlotWord.lock, 1);
  const timeout = Bun.sleep(BOUND_MS).then(() => "never answered");
  expect(await Promise.race([woken, timeout])).toBe(true);
  await client.close();
});
