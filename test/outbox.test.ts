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
