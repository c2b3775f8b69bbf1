/**
 * The outbox's bound on bytes a peer has not read: a peer that stops reading is cut off at the limit, and
 * what it did read later no longer counts against it.
 */
import { expect, test } from "bun:test";
import { isIvshError } from "../src/errors.ts";
import { Outbox } from "../src/protocol/outbox.ts";

/** A socket taking at most `room` bytes until given more. */
function stingySocket() {
  const taken: number[] = [];
  const socket = {
    room: 0,
    write(data: Uint8Array) {
      const n = Math.min(socket.room, data.byteLength);
      socket.room -= n;
      for (const byte of data.subarray(0, n)) taken.push(byte);
      return n;
    },
  };
  return { socket, taken };
}

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return isIvshError(error) ? error.code : String(error);
  }
  return "nothing thrown";
}

test("an outbox queues up to exactly its limit of unread bytes, and refuses one byte more as ConnectionLost", () => {
  const { socket } = stingySocket();
  const outbox = new Outbox(socket, 10);
  outbox.send(new Uint8Array(4));
  outbox.send(new Uint8Array(6)); // 10 queued: exactly the limit
  expect(outbox.queuedFrames).toBe(2);
  expect(codeOf(() => outbox.send(new Uint8Array(1)))).toBe("ConnectionLost");
  expect(outbox.queuedFrames).toBe(2);
  expect(outbox.peerGone).toBe(false);
});

test("bytes the peer read from the queue no longer count against the limit, however many pass over time", () => {
  const { socket, taken } = stingySocket();
  const outbox = new Outbox(socket, 10);
  let next = 0;
  // 100 frames of 8 bytes, each queued whole and then read in two parts: 800 bytes through a 10-byte limit.
  for (let round = 0; round < 100; round++) {
    const frame = Uint8Array.from({ length: 8 }, () => next++ & 0xff);
    outbox.send(frame);
    expect(outbox.queuedFrames).toBe(1);
    socket.room = 3;
    outbox.flush();
    socket.room = 5;
    outbox.flush();
    expect(outbox.idle).toBe(true);
  }
  expect(taken).toEqual(Array.from({ length: 800 }, (_, i) => i & 0xff));
});

// Bun's socket.write returns -1 once the socket is closed (EPIPE): the frame is lost, not partly taken.
test("a write to a closed socket with nothing queued is ConnectionLost at once, the peer gone, nothing queued", () => {
  const socket = { write: () => -1 };
  const outbox = new Outbox(socket);
  expect(codeOf(() => outbox.send(new Uint8Array(8)))).toBe("ConnectionLost");
  expect(outbox.peerGone).toBe(true);
  expect(outbox.idle).toBe(true);
  expect(codeOf(() => outbox.send(new Uint8Array(8)))).toBe("ConnectionLost");
});

test("a send behind queued frames to a peer gone meanwhile is ConnectionLost, not queued as if it would be read", () => {
  const socket = { closed: false, write: () => (socket.closed ? -1 : 0) };
  const outbox = new Outbox(socket);
  outbox.send(new Uint8Array(8)); // the peer reads nothing: queued
  expect(outbox.queuedFrames).toBe(1);
  socket.closed = true; // it shut down reading, our replies unread
  expect(codeOf(() => outbox.send(new Uint8Array(8)))).toBe("ConnectionLost");
  expect(outbox.peerGone).toBe(true);
  expect(outbox.queuedFrames).toBe(1);
});
