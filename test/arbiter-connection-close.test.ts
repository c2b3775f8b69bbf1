/**
 * How the arbiter ends a connection it refused (src/host/connection.ts): it half-closes (so the client
 * reads the error frame, its next write not cut off by EPIPE), and closes for good after a grace even when
 * the client never closes its own end. Left half-open, each such client kept a socket and its buffers in
 * the arbiter for as long as it lived. A real arbiter process; the client a node:net socket that keeps its
 * half open.
 */
import { afterAll, beforeAll, beforeEach, expect, test } from "bun:test";
import { createConnection } from "node:net";
import { decodeError, FrameDecoder } from "../src/protocol/codec.ts";
import { FrameKind } from "../src/protocol/messages.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually } from "./helpers/processes.ts";
import { helloFrame } from "./helpers/raw.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("conn-close");
  arbiter = await ArbiterProcess.start(paths);
});
beforeEach(() => arbiter.revive());
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

/** A frame of an op no protocol version has: fatal to the connection. */
function unknownOpFrame(): Uint8Array {
  const bytes = new Uint8Array(12);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, 12, true);
  view.setUint16(4, 999, true);
  view.setUint32(8, 5, true);
  return bytes;
}

test("a refused client that never closes its end is closed by the arbiter after the grace", async () => {
  const decoder = new FrameDecoder();
  const errors: string[] = [];
  let ended = false;
  let failed: string | undefined;
  const socket = createConnection({ path: paths.socket, allowHalfOpen: true });
  socket.on("data", (bytes: Buffer) => {
    decoder.push(new Uint8Array(bytes));
    for (let frame = decoder.next(); frame; frame = decoder.next())
      if (frame.kind === FrameKind.error) errors.push(decodeError(frame.body).code);
  });
  socket.on("end", () => {
    ended = true;
  });
  socket.on("error", (error: NodeJS.ErrnoException) => {
    failed = error.code ?? error.message;
  });
  socket.on("close", () => {
    failed ??= "closed";
  });
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  socket.write(helloFrame("half-open"));
  socket.write(unknownOpFrame());
  // The error frame, then the arbiter's half-close: this client's own end stays open.
  await eventually(async () => ended, 20_000, "the arbiter's half-close");
  expect(errors).toEqual(["UnknownOp"]);
  // It keeps writing (read and ignored during the grace) until a write finds the arbiter's end closed.
  const ticker = setInterval(() => {
    if (!socket.destroyed) socket.write(new Uint8Array(1));
  }, 100);
  try {
    await eventually(async () => failed !== undefined, 30_000, "the arbiter closing the connection for good");
  } finally {
    clearInterval(ticker);
    socket.destroy();
  }
  // Whatever the write failed with (Bun says EPIPE, ECONNRESET or EBADF): the arbiter's end is gone.
  expect(failed).toBeString();
}, 60_000);
