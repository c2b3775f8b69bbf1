/**
 * A connection the arbiter closes (a malformed frame) while replies to it still wait unsent, its client
 * not reading: the close waits for them, so the client, once it reads, gets every reply and then the error
 * frame that says why, before the end of the stream. Shut down at once, the queued frames were lost.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { decodeError } from "../src/protocol/codec.ts";
import { FrameKind, messages } from "../src/protocol/messages.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { rawClient } from "./helpers/raw.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("close-after-queued");
  arbiter = await ArbiterProcess.start(paths, { size: "64MiB", blockSize: "4KiB" });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("a malformed frame behind unread replies: every reply, then the error frame, then the end", async () => {
  const client = await rawClient(paths.socket);
  await client.hello("closed-behind-replies");
  // Segments enough that each status reply is large: a few fill the socket's buffers.
  const SEGMENTS = 2000;
  for (let id = 2; id < 2 + SEGMENTS; id++)
    client.send("alloc", id, { bytes: 0, blocks: 1, mode: 2, name: `s${id}` });
  await client.answer(1 + SEGMENTS, 60_000);
  const before = client.frames.length;
  client.socket.pause();
  const STATUSES = 20;
  const first = 10_000;
  for (let id = first; id < first + STATUSES; id++) client.send("status", id, { limit: 5000, onlyClient: 0 });
  // An oversized length field: BadFrame, and the arbiter closes the connection.
  const bad = new Uint8Array(12);
  new DataView(bad.buffer).setUint32(0, 0x7fffffff, true);
  new DataView(bad.buffer).setUint16(4, messages.alloc.op, true);
  client.write(bad);
  await Bun.sleep(1000); // for the arbiter to answer what it can and take the close
  client.socket.resume();
  await client.closed;
  const after = client.frames.slice(before);
  expect(after.slice(0, STATUSES).map((frame) => [frame.requestId, frame.kind])).toEqual(
    Array.from({ length: STATUSES }, (_, i) => [first + i, FrameKind.reply]),
  );
  expect(after.length).toBe(STATUSES + 1);
  expect(after[STATUSES]!.kind).toBe(FrameKind.error);
  expect(decodeError(after[STATUSES]!.body).code).toBe("BadFrame");
}, 90_000);
