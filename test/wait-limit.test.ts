/**
 * One client cannot grow the arbiter without bound by parking waits it never wakes: each parked wait costs
 * the arbiter about 560 bytes (400 000 of them took it from 47 to 270 MiB in 1.5 s), so a session may have
 * at most MAX_PARKED_WAITS parked; a wait past that is refused with QuotaExceeded and nothing else changes.
 */
import { expect, test } from "bun:test";
import type { Socket } from "bun";
import { fetchStatus } from "../src/guest/inspect.ts";
import { decodeError, decodeFields, encodeFrame, type Frame, FrameDecoder } from "../src/protocol/codec.ts";
import {
  FrameKind,
  messages,
  PROTOCOL_VERSION,
  WAIT_FOREVER,
  WaitOutcome,
  WIRE_MAGIC,
} from "../src/protocol/messages.ts";
import { eventually } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("wait-limit", { lease: "60s" });
const LIMIT = 4096;
const EXTRA = 500;

/** A raw session: frames are sent as given and every frame read is kept. */
async function rawSession(name: string) {
  const frames: Frame[] = [];
  const decoder = new FrameDecoder();
  let unsent = new Uint8Array(0);
  const flush = () => {
    unsent = unsent.subarray(Math.max(0, socket.write(unsent)));
  };
  const socket: Socket<undefined> = await Bun.connect({
    unix: suite.socket,
    socket: {
      data(_socket, bytes) {
        decoder.push(bytes);
        for (let frame = decoder.next(); frame; frame = decoder.next()) frames.push(frame);
      },
      drain: () => flush(),
    },
  });
  const frame = <N extends keyof typeof messages>(op: N, requestId: number, fields: object) =>
    encodeFrame(FrameKind.request, messages[op].op, requestId, messages[op].request, fields as never);
  const send = (...parts: Uint8Array[]) => {
    unsent = Buffer.concat([unsent, ...parts]);
    flush();
  };
  const answer = async (requestId: number) => {
    await eventually(async () => frames.some((f) => f.requestId === requestId), 20_000, `reply ${requestId}`);
    return frames.find((f) => f.requestId === requestId)!;
  };
  send(
    frame("hello", 1, {
      magic: WIRE_MAGIC,
      version: PROTOCOL_VERSION,
      clientName: name,
      pid: 1,
      sessionToken: "",
    }),
    frame("syncOpen", 2, { name: "wait-limit", kind: 2, create: 1 }),
  );
  const { slot } = decodeFields(messages.syncOpen.reply, (await answer(2)).body, "a syncOpen reply");
  return { frames, socket, frame, send, answer, slot };
}

const waiters = async (slot: number) =>
  (await fetchStatus({ unix: suite.socket })).report.sync.find((object) => object.slot === slot)?.waiters;

test("waits past a client's limit are refused with QuotaExceeded; its parked ones and other clients' are unharmed", async () => {
  const flooder = await rawSession("flooder");
  const { slot } = flooder;
  const wait = (requestId: number) =>
    flooder.frame("wait", requestId, { slot, word: 4, expected: 0, timeoutMs: WAIT_FOREVER });
  const firstWait = 3;
  flooder.send(...Array.from({ length: LIMIT + EXTRA }, (_, index) => wait(firstWait + index)));
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
  other.send(other.frame("wait", 3, { slot, word: 4, expected: 0, timeoutMs: WAIT_FOREVER }));
  await eventually(
    async () => (await waiters(slot)) === LIMIT + 1,
    20_000,
    "the other client's wait to park",
  );
  other.send(other.frame("wake", 4, { slot, word: 4, count: 0xffffffff, reply: 1 }));
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
  flooder.send(wait(again));
  await eventually(async () => (await waiters(slot)) === 1, 20_000, "a new wait to park");
  expect(flooder.frames.some((f) => f.requestId === again)).toBe(false);
  flooder.socket.end();
  other.socket.end();
}, 90_000);
