/**
 * One client cannot grow the arbiter without bound by parking waits it never wakes: each parked wait costs
 * the arbiter about 560 bytes (400 000 of them took it from 47 to 270 MiB in 1.5 s), so a session may have
 * at most MAX_PARKED_WAITS parked; a wait past that is refused with QuotaExceeded and nothing else changes.
 */
import { expect, test } from "bun:test";
import { fetchStatus } from "../src/guest/inspect.ts";
import { decodeError, decodeFields } from "../src/protocol/codec.ts";
import { FrameKind, messages, WAIT_FOREVER, WaitOutcome } from "../src/protocol/messages.ts";
import { eventually } from "./helpers/processes.ts";
import { requestFrame as frame, helloFrame, rawClient } from "./helpers/raw.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("wait-limit", { lease: "60s" });
const LIMIT = 4096;
const EXTRA = 500;

/** A raw session with the sync object open: frames are sent as given and every frame read is kept. */
async function rawSession(name: string) {
  const client = await rawClient(suite.socket);
  client.write(helloFrame(name), frame("syncOpen", 2, { name: "wait-limit", kind: 2, create: 1 }));
  const { slot } = decodeFields(messages.syncOpen.reply, (await client.answer(2)).body, "a syncOpen reply");
  return { ...client, slot };
}

const waiters = async (slot: number) =>
  (await fetchStatus({ unix: suite.socket })).report.sync.find((object) => object.slot === slot)?.waiters;

test("waits past a client's limit are refused with QuotaExceeded; its parked ones and other clients' are unharmed", async () => {
  const flooder = await rawSession("flooder");
  const { slot } = flooder;
  const wait = (requestId: number) =>
    frame("wait", requestId, { slot, word: 4, expected: 0, timeoutMs: WAIT_FOREVER });
  const firstWait = 3;
  flooder.write(...Array.from({ length: LIMIT + EXTRA }, (_, index) => wait(firstWait + index)));
  await eventually(
    async () => flooder.frames.length === 2 + EXTRA,
    30_000,
    "the refusals of the extra waits",
  );
  for (const refused of flooder.frames.slice(2)) {
    expect(refused.kind).toBe(FrameKind.error);
    expect(refused.requestId).toBeGreaterThanOrEqual(firstWait + LIMIT);
    const { code, message } = decodeError(refused.body);
    expect(code).toBe("QuotaExceeded");
    expect(message).toContain(`already has ${LIMIT} waits parked`);
  }
  expect(await waiters(slot)).toBe(LIMIT);

  // Another client parks on the same word as usual, and one wake answers every parked wait.
  const other = await rawSession("other");
  other.send("wait", 3, { slot, word: 4, expected: 0, timeoutMs: WAIT_FOREVER });
  await eventually(
    async () => (await waiters(slot)) === LIMIT + 1,
    20_000,
    "the other client's wait to park",
  );
  other.send("wake", 4, { slot, word: 4, count: 0xffffffff, reply: 1 });
  const { woken } = decodeFields(messages.wake.reply, (await other.answer(4)).body, "a wake reply");
  expect(woken).toBe(LIMIT + 1);
  const outcome = decodeFields(messages.wait.reply, (await other.answer(3)).body, "a wait reply").outcome;
  expect(outcome).toBe(WaitOutcome.woken);
  await eventually(
    async () => flooder.frames.length === 2 + EXTRA + LIMIT,
    20_000,
    "every parked wait's answer",
  );

  // Its waits answered, the flooder may park again.
  const again = firstWait + LIMIT + EXTRA;
  flooder.write(wait(again));
  await eventually(async () => (await waiters(slot)) === 1, 20_000, "a new wait to park");
  expect(flooder.frames.some((f) => f.requestId === again)).toBe(false);
  flooder.socket.end();
  other.socket.end();
}, 90_000);
