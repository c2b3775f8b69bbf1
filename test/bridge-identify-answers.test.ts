/**
 * A relaying bridge's identify, answered in the ways a real arbiter answers it but hard to bring about with
 * one: a stand-in arbiter (a Unix listener in this process) answers it, and runBridge runs in-process
 * with a guest of streams. Bytes in the same read as the reply are the guest's (an unasked error, such as
 * "no hello arrived" or a lease's end, written right after it); a refusal reaches the guest as the answer
 * to its hello; a close without an answer is a failure, not a relay.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Socket } from "bun";
import { failure, isIvshError } from "../src/errors.ts";
import { runBridge } from "../src/host/bridge.ts";
import { encodeErrorFrame, encodeFrame, type Frame, FrameDecoder } from "../src/protocol/codec.ts";
import { FrameKind, messages } from "../src/protocol/messages.ts";

const dir = mkdtempSync("/tmp/ivsh-bridge-identify-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let serial = 0;

/** A listener that answers each connection's first bytes (the identify) with `answer`. */
function standIn(answer: (connection: Socket<undefined>) => void): { path: string; stop(): void } {
  const path = join(dir, `arbiter-${serial++}.sock`);
  let answered = false;
  const listener = Bun.listen({
    unix: path,
    socket: {
      data(connection) {
        if (answered) return;
        answered = true;
        answer(connection);
      },
    },
  });
  return { path, stop: () => listener.stop(true) };
}

/** A guest that sends `first` (if any) when read, then stays open sending nothing. */
function guest(first?: Uint8Array) {
  const received: Uint8Array[] = [];
  let sent = false;
  const input = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (first && !sent) {
        sent = true;
        controller.enqueue(first);
        return;
      }
      return new Promise<void>(() => undefined);
    },
  });
  const frames = (): Frame[] => {
    const decoder = new FrameDecoder();
    for (const bytes of received) decoder.push(bytes);
    const all: Frame[] = [];
    for (let frame = decoder.next(); frame; frame = decoder.next()) all.push(frame);
    return all;
  };
  return {
    streams: { input, output: { write: (bytes: Uint8Array) => received.push(bytes.slice()) } },
    frames,
  };
}

const identifyReply = () =>
  encodeFrame(FrameKind.reply, messages.identify.op, 0, messages.identify.reply, {});

test("bytes after the identify reply, in the same read, reach the guest", async () => {
  const unasked = failure(
    "ProtocolState",
    "greet the client",
    "no hello arrived within 250 ms of connecting",
  );
  // One write, so one read: the reply and an unasked error after it; then the arbiter closes.
  const arbiter = standIn((connection) =>
    connection.end(Buffer.concat([identifyReply(), encodeErrorFrame(0, 0, unasked)])),
  );
  const { streams, frames } = guest();
  try {
    await runBridge("rest-vm", arbiter.path, streams);
  } finally {
    arbiter.stop();
  }
  const got = frames();
  expect(got.map((frame) => [frame.kind, frame.op, frame.requestId])).toEqual([[FrameKind.error, 0, 0]]);
});

test("an identify refused: the guest's hello is answered with the refusal, under its own id", async () => {
  const refusal = failure("NoSpace", "connect VM 'full-vm'", "it has as many connections as it may");
  const arbiter = standIn((connection) => connection.end(encodeErrorFrame(messages.identify.op, 0, refusal)));
  const hello = encodeFrame(FrameKind.request, messages.hello.op, 7, messages.hello.request, {
    magic: 0,
    version: 0,
    clientName: "guest",
    pid: 1,
    sessionToken: "",
  });
  const { streams, frames } = guest(hello);
  let thrown: unknown;
  try {
    await runBridge("full-vm", arbiter.path, streams).catch((error: unknown) => {
      thrown = error;
    });
  } finally {
    arbiter.stop();
  }
  expect(isIvshError(thrown, "NoSpace")).toBe(true);
  const got = frames();
  expect(got.map((frame) => [frame.kind, frame.op, frame.requestId])).toEqual([
    [FrameKind.error, messages.hello.op, 7],
  ]);
});

test("an arbiter that closes without answering the identify fails the bridge; nothing is relayed", async () => {
  const arbiter = standIn((connection) => connection.end());
  const { streams, frames } = guest();
  let reached = false;
  let thrown: unknown;
  try {
    await runBridge("closed-vm", arbiter.path, streams, () => {
      reached = true;
    }).catch((error: unknown) => {
      thrown = error;
    });
  } finally {
    arbiter.stop();
  }
  expect(isIvshError(thrown, "ArbiterUnreachable")).toBe(true);
  expect(String(thrown)).toContain("closed the connection");
  expect(reached).toBe(false);
  expect(frames()).toEqual([]);
});
