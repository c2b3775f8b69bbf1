/**
 * The arbiter's hand-over socket when things go wrong: what arrives there malformed, without a
 * descriptor, or for a connection already closed is dropped without a leaked descriptor or session, and
 * neither a guest nor a stranger can use it to adopt a connection that was not handed over.
 */
import { afterAll, beforeAll, beforeEach, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { sendWithFd, streamSocketPair } from "../src/ffi/fd-passing.ts";
import { closeFd } from "../src/ffi/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { handoverPath } from "../src/host/handover.ts";
import { decodeError, encodeFrame, type Frame, FrameDecoder } from "../src/protocol/codec.ts";
import { FrameKind, handoverDatagram, messages } from "../src/protocol/messages.ts";
import { type FakeGuestfwd, socketGuestfwd } from "./helpers/guestfwd.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, livenessBoundMs } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let forward: FakeGuestfwd;

beforeAll(async () => {
  paths = testPaths("handover");
  arbiter = await ArbiterProcess.start(paths);
  forward = socketGuestfwd("handover-vm", paths.socket);
});
beforeEach(() => arbiter.revive());
afterAll(async () => {
  forward?.stop();
  await arbiter?.stop();
  paths?.cleanup();
});

function arbiterFds(): number {
  return readdirSync(`/proc/${arbiter.pid}/fd`).length;
}

function datagram(vm: string, nonce: string): Uint8Array {
  return encodeFrame(FrameKind.request, messages.handover.op, 0, handoverDatagram, { vm, nonce });
}

function handoverRequest(nonce: string): Uint8Array {
  return encodeFrame(FrameKind.request, messages.handover.op, 1, messages.handover.request, { nonce });
}

/** Sends one frame on a fresh connection to the arbiter and returns the first frame that comes back. */
async function ask(frame: Uint8Array, port?: number): Promise<Frame> {
  const answered = Promise.withResolvers<Frame>();
  const decoder = new FrameDecoder();
  const handlers = {
    data: (_socket: unknown, bytes: Uint8Array) => {
      decoder.push(bytes);
      const next = decoder.next();
      if (next) answered.resolve(next);
    },
    close: () => answered.reject(new Error("closed without an answer")),
  };
  const socket =
    port === undefined
      ? await Bun.connect({ unix: paths.socket, socket: handlers })
      : await Bun.connect({ hostname: "127.0.0.1", port, socket: handlers });
  socket.write(frame);
  try {
    return await answered.promise;
  } finally {
    socket.end();
  }
}

async function settledFds(baseline: number): Promise<void> {
  await eventually(
    async () => arbiterFds() <= baseline,
    livenessBoundMs(1000),
    "the arbiter closing what it got",
  );
}

test("a handover naming a nonce nobody sent is refused, naming the hand-over socket", async () => {
  const answer = await ask(handoverRequest("no-such-nonce"));
  expect(answer.kind).toBe(FrameKind.error);
  const error = decodeError(answer.body);
  expect(error.code).toBe("ProtocolState");
  expect(error.message).toContain(handoverPath(paths.socket));
});

test("malformed datagrams are dropped and their descriptors closed; a good one after them still works", async () => {
  const baseline = arbiterFds();
  const [mine, theirs] = streamSocketPair();
  const wrongOp = encodeFrame(FrameKind.request, messages.identify.op, 0, messages.identify.request, {
    vm: "x",
  });
  for (const payload of [new Uint8Array([1, 2, 3, 4, 5]), datagram("bad name!", "n-bad"), wrongOp])
    sendWithFd(handoverPath(paths.socket), payload, theirs);
  sendWithFd(handoverPath(paths.socket), datagram("good-vm", "n-good"), theirs);
  closeFd(theirs);
  try {
    // Draining happens on a handover request: the three before it are read and dropped on the way.
    expect((await ask(handoverRequest("n-good"))).kind).toBe(FrameKind.reply);
    // Its VM name is not one: dropped like the others, so nothing is there to adopt under its nonce.
    expect((await ask(handoverRequest("n-bad"))).kind).toBe(FrameKind.error);
  } finally {
    closeFd(mine); // the adopted connection closes with it
  }
  await settledFds(baseline);
});

test("a connection closed during its hand-over is adopted and dropped: no descriptor or session left", async () => {
  const baseline = arbiterFds();
  const [mine, theirs] = streamSocketPair();
  sendWithFd(handoverPath(paths.socket), datagram("closing-vm", "n-closing"), theirs);
  closeFd(theirs);
  closeFd(mine); // the guest went away before the arbiter adopted its connection
  const answer = await ask(handoverRequest("n-closing"));
  expect(answer.kind).toBe(FrameKind.reply);
  await settledFds(baseline);
  const { report } = await fetchStatus({ unix: paths.socket });
  expect(report.clients.filter((client) => client.vm === "closing-vm")).toEqual([]);
});

test("a guest cannot hand over, nor claim a handed-over connection: its handover is refused", async () => {
  // Through the guestfwd stand-in: the bridge has handed this connection over, so it is a guest's.
  const answer = await ask(handoverRequest("n-anything"), forward.port);
  expect(answer.kind).toBe(FrameKind.error);
  expect(decodeError(answer.body).message).toContain("a guest's connection cannot hand a connection over");
});
