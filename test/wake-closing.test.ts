/**
 * A connection the arbiter is closing (a fatal error, section 9 of docs/protocol.md) can never be answered
 * again: a wait it left parked must not take a wake-up meant for a live waiter parked after it.
 */
import { expect, test } from "bun:test";
import { createConnection, type Socket } from "node:net";
import { decodeFields, encodeFrame, type Frame, FrameDecoder } from "../src/protocol/codec.ts";
import { FrameKind, messages, SyncCreate } from "../src/protocol/messages.ts";
import { SlotKind, SyncWord } from "../src/region/layout.ts";
import { eventually, livenessBoundMs } from "./helpers/processes.ts";
import { helloFrame, rawClient, requestFrame } from "./helpers/raw.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("wake-closing");
const WORD = SyncWord.firstUnused; // 0 in a new condvar slot, and nothing of ivsh's changes it

/** A raw client that keeps its side open after the arbiter's end-of-file, as a stuck peer does. */
async function halfOpenClient(path: string) {
  const frames: Frame[] = [];
  const decoder = new FrameDecoder();
  const closed = Promise.withResolvers<void>();
  const socket: Socket = createConnection({ path, allowHalfOpen: true });
  socket.on("data", (bytes: Buffer) => {
    decoder.push(new Uint8Array(bytes));
    for (let frame = decoder.next(); frame; frame = decoder.next()) frames.push(frame);
  });
  socket.on("close", () => closed.resolve());
  socket.on("error", () => closed.resolve());
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  const answer = async (requestId: number) => {
    await eventually(
      async () => frames.some((f) => f.requestId === requestId),
      livenessBoundMs(5000),
      `reply ${requestId}`,
    );
    return frames.find((f) => f.requestId === requestId)!;
  };
  return { socket, frames, answer, closed: closed.promise };
}

test("a wake goes to a live waiter, not to the parked wait of a connection being closed", async () => {
  const open = { name: "wake-closing", kind: SlotKind.condvar, create: SyncCreate.openOrCreate };
  const wait = { word: WORD, expected: 0, timeoutMs: 0xffffffff };
  // The first waiter, whose connection the arbiter will be closing.
  const dying = await halfOpenClient(suite.socket);
  dying.socket.write(helloFrame("dying"));
  const dyingId = decodeFields(messages.hello.reply, (await dying.answer(1)).body, "hello").clientId;
  dying.socket.write(requestFrame("syncOpen", 2, open));
  const { slot } = decodeFields(messages.syncOpen.reply, (await dying.answer(2)).body, "syncOpen");
  dying.socket.write(
    Buffer.concat([requestFrame("wait", 3, { slot, ...wait }), requestFrame("heartbeat", 4, {})]),
  );
  await dying.answer(4);
  // The live waiter, parked after it.
  const live = await rawClient(suite.socket);
  await live.hello("live");
  live.send("syncOpen", 2, open);
  await live.answer(2);
  live.send("wait", 3, { slot, ...wait });
  live.send("heartbeat", 4, {});
  await live.answer(4);
  // The waker is ready first: only its wake and one status fall within the dying connection's close grace.
  const waker = await rawClient(suite.socket);
  await waker.hello("waker");
  waker.send("syncOpen", 2, open);
  await waker.answer(2);
  // A reply frame from a client is fatal: the arbiter answers it and starts closing the connection.
  dying.socket.write(
    encodeFrame(FrameKind.reply, messages.heartbeat.op, 5, messages.heartbeat.reply, { leaseMs: 1 }),
  );
  await dying.answer(5);
  waker.send("wake", 3, { slot, word: WORD, count: 1, reply: 1 });
  // The live waiter is answered by that wake, not only when the dying connection's session ends (its
  // socket is closed CLOSE_GRACE_MS later, which wakes every waiter of the slots it held): the status
  // asked once it was answered still lists the dying client.
  const answered = await live.answer(3);
  waker.send("status", 4, { limit: 100, onlyClient: 0 });
  const status = await waker.answer(4);
  const report = JSON.parse(decodeFields(messages.status.reply, status.body, "status").json);
  expect(report.clients.map((client: { clientId: number }) => client.clientId)).toContain(dyingId);
  expect(decodeFields(messages.wait.reply, answered.body, "wait").outcome).toBe(0);
  dying.socket.destroy();
  live.socket.end();
  waker.socket.end();
});
