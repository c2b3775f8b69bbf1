/**
 * The arbiter stops reading a connection while 32 of its replies wait unsent (docs/protocol.md sections 9
 * and 11). What that must not do: wedge the connection once its client reads again, hold up another client
 * (one that wakes a wait of the held connection included), or keep a closed connection's session.
 * test/reply-cache-overflow.test.ts proves the hold itself; these prove the ways out of it.
 */
import { expect, test } from "bun:test";
import { fetchStatus } from "../src/guest/inspect.ts";
import { decodeFields } from "../src/protocol/codec.ts";
import { messages, WAIT_FOREVER, WaitOutcome } from "../src/protocol/messages.ts";
import { eventually } from "./helpers/processes.ts";
import { type RawClient, rawClient } from "./helpers/raw.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("backpressure", { size: "64MiB", blockSize: "4KiB", lease: "20s" });
const ALLOCS = 3000;

/** A raw session whose frames are kept as read; `socket.pause()` makes it a client that reads nothing. */
async function rawSession(name: string) {
  const client = await rawClient(suite.socket);
  const { clientId } = await client.hello(name);
  return { ...client, clientId };
}

const report = async () => (await fetchStatus({ unix: suite.socket })).report;

/** Sends ALLOCS allocs (request ids from `firstId`) while reading nothing, until the arbiter holds them back. */
async function pipelineUntilHeld(client: RawClient & { clientId: number }, firstId: number) {
  client.socket.pause();
  for (let id = firstId; id < firstId + ALLOCS; id++)
    client.send("alloc", id, { bytes: 0, blocks: 1, mode: 2, name: "" });
  let seen = -1;
  await eventually(
    async () => {
      const held = (await report()).clients.find((c) => c.clientId === client.clientId)?.blocksAllocated;
      const still = held === seen && held !== undefined && held > 64 && held < ALLOCS;
      seen = held ?? -1;
      return still;
    },
    30_000,
    "the arbiter to hold back the requests of the client that reads nothing",
  );
}

test("a held connection whose client reads again gets every reply, a wake another client sent it included", async () => {
  const held = await rawSession("held");
  const waker = await rawSession("waker");
  for (const client of [held, waker])
    client.send("syncOpen", 2, { name: "backpressure", kind: 2, create: 1 });
  const { slot } = decodeFields(messages.syncOpen.reply, (await held.answer(2)).body, "a syncOpen reply");
  await waker.answer(2);
  held.send("wait", 3, { slot, word: 4, expected: 0, timeoutMs: WAIT_FOREVER });
  await eventually(
    async () => (await report()).sync.find((object) => object.slot === slot)?.waiters === 1,
    20_000,
    "the wait to park",
  );
  await pipelineUntilHeld(held, 4);
  // The waker is served at once, though the wait it ends is answered on the held connection.
  waker.send("wake", 3, { slot, word: 4, count: 1, reply: 1 });
  expect(decodeFields(messages.wake.reply, (await waker.answer(3)).body, "a wake reply").woken).toBe(1);
  held.socket.resume();
  await eventually(async () => held.frames.length === 3 + ALLOCS, 30_000, "every reply to the held client");
  const outcome = decodeFields(messages.wait.reply, (await held.answer(3)).body, "a wait reply").outcome;
  expect(outcome).toBe(WaitOutcome.woken);
  held.socket.end();
  waker.socket.end();
}, 90_000);

test("a held connection that closes ends its session at once", async () => {
  const held = await rawSession("closes-held");
  await pipelineUntilHeld(held, 2);
  held.socket.terminate();
  await eventually(
    async () => !(await report()).clients.some((c) => c.clientId === held.clientId),
    10_000,
    "the closed connection's session to end",
  );
}, 90_000);
