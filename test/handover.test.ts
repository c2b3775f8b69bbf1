/**
 * The arbiter's hand-over socket when things go wrong: what arrives there malformed, without a
 * descriptor, for a connection already closed, or from a bridge that died before claiming it is dropped
 * without a leaked descriptor or session, and neither a guest nor a stranger can use it to adopt a
 * connection that was not handed over.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { FdSocketOptions, Socket } from "bun";
import { sendWithFd, streamSocketPair } from "../src/ffi/fd-passing.ts";
import { closeFd } from "../src/ffi/index.ts";
import { connect } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { handoverPath } from "../src/host/handover.ts";
import { decodeError, encodeFrame, type Frame, FrameDecoder } from "../src/protocol/codec.ts";
import { FrameKind, handoverDatagram, messages } from "../src/protocol/messages.ts";
import { type FakeGuestfwd, socketGuestfwd } from "./helpers/guestfwd.ts";
import { CLI, FIXTURES, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, EventStream, eventually, livenessBoundMs, spawnBun } from "./helpers/processes.ts";

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

function arbiterFds(of = arbiter): number {
  return readdirSync(`/proc/${of.pid}/fd`).length;
}

function datagram(vm: string, nonce: string): Uint8Array {
  return encodeFrame(FrameKind.request, messages.handover.op, 0, handoverDatagram, { vm, nonce });
}

function handoverRequest(nonce: string): Uint8Array {
  return encodeFrame(FrameKind.request, messages.handover.op, 1, messages.handover.request, { nonce });
}

/**
 * Sends one frame on a fresh connection to the arbiter (at a Unix socket path, or through a guestfwd
 * stand-in's TCP port) and returns the first frame that comes back.
 */
async function ask(frame: Uint8Array, to: string | number = paths.socket): Promise<Frame> {
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
    typeof to === "string"
      ? await Bun.connect({ unix: to, socket: handlers })
      : await Bun.connect({ hostname: "127.0.0.1", port: to, socket: handlers });
  socket.write(frame);
  try {
    return await answered.promise;
  } finally {
    socket.end();
  }
}

async function settledFds(baseline: number, of = arbiter, boundMs = livenessBoundMs(1000)): Promise<void> {
  await eventually(async () => arbiterFds(of) <= baseline, boundMs, "the arbiter closing what it got");
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
  // A whole datagram with a byte after its frame: not what a bridge sends.
  const trailing = new Uint8Array([...datagram("tail-vm", "n-tail"), 0]);
  for (const payload of [new Uint8Array([1, 2, 3, 4, 5]), datagram("bad name!", "n-bad"), wrongOp, trailing])
    sendWithFd(handoverPath(paths.socket), payload, theirs);
  sendWithFd(handoverPath(paths.socket), datagram("good-vm", "n-good"), theirs);
  closeFd(theirs);
  try {
    // Drained by this request at the latest: the four before it are read and dropped on the way.
    expect((await ask(handoverRequest("n-good"))).kind).toBe(FrameKind.reply);
    // Its VM name is not one: dropped like the others, so nothing is there to adopt under its nonce.
    expect((await ask(handoverRequest("n-bad"))).kind).toBe(FrameKind.error);
    expect((await ask(handoverRequest("n-tail"))).kind).toBe(FrameKind.error);
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

test("a handed-over connection is adopted once: a second handover naming its nonce is refused", async () => {
  const baseline = arbiterFds();
  const [mine, theirs] = streamSocketPair();
  sendWithFd(handoverPath(paths.socket), datagram("once-vm", "n-once"), theirs);
  closeFd(theirs);
  try {
    expect((await ask(handoverRequest("n-once"))).kind).toBe(FrameKind.reply);
    // Adopted again, its descriptor would be wrapped twice: closed by one, and the number reused.
    const again = await ask(handoverRequest("n-once"));
    expect(again.kind).toBe(FrameKind.error);
    expect(decodeError(again.body).code).toBe("ProtocolState");
  } finally {
    closeFd(mine);
  }
  await settledFds(baseline);
});

test("a second datagram under a nonce already waiting is dropped: the first stays, and no descriptor leaks", async () => {
  const baseline = arbiterFds();
  const [firstMine, firstTheirs] = streamSocketPair();
  const [secondMine, secondTheirs] = streamSocketPair();
  sendWithFd(handoverPath(paths.socket), datagram("first-vm", "n-twice"), firstTheirs);
  sendWithFd(handoverPath(paths.socket), datagram("second-vm", "n-twice"), secondTheirs);
  closeFd(firstTheirs);
  closeFd(secondTheirs);
  try {
    expect((await ask(handoverRequest("n-twice"))).kind).toBe(FrameKind.reply);
  } finally {
    closeFd(firstMine);
    closeFd(secondMine);
  }
  // Replaced in the inbox, the first descriptor was neither adopted nor closed: held for good.
  await settledFds(baseline);
});

test("of two datagrams under one nonce, the later one's connection is closed at once: the first waits to be adopted", async () => {
  const [firstMine, firstTheirs] = streamSocketPair();
  const [secondMine, secondTheirs] = streamSocketPair();
  sendWithFd(handoverPath(paths.socket), datagram("first-vm", "n-later"), firstTheirs);
  sendWithFd(handoverPath(paths.socket), datagram("second-vm", "n-later"), secondTheirs);
  closeFd(firstTheirs);
  closeFd(secondTheirs);
  const second = await guestEnd(secondMine);
  try {
    // Taken in the inbox's place instead, the second would be adopted and the first held unclaimed.
    expect((await ask(handoverRequest("n-later"))).kind).toBe(FrameKind.reply);
    const bound = Bun.sleep(livenessBoundMs(1000)).then(() => "the second connection is still open");
    expect(await Promise.race([second.closed.then(() => "closed"), bound])).toBe("closed");
  } finally {
    second.socket.end();
    closeFd(firstMine);
  }
});

/** bun-types 1.4.5 declares FdSocketOptions but no Bun.connect overload taking it; the runtime has one. */
const connectFd = Bun.connect as unknown as <Data>(options: FdSocketOptions<Data>) => Promise<Socket<Data>>;

/** Our end of a guest connection, watched: `closed` settles when the end handed over is closed for good. */
async function guestEnd(fd: number): Promise<{ socket: Socket<undefined>; closed: Promise<void> }> {
  const closed = Promise.withResolvers<void>();
  const socket = await connectFd<undefined>({
    fd,
    socket: { data() {}, end: () => closed.resolve(), close: () => closed.resolve() },
  });
  return { socket, closed: closed.promise };
}

async function within(promise: Promise<void>, boundMs: number, what: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${boundMs} ms`)), boundMs);
  });
  try {
    await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe("a datagram nobody claims, on an arbiter whose hand-over TTL is short (IVSH_HANDOVER_TTL_MS)", () => {
  const TTL_MS = 1000;
  // The TTL, the inbox's check period and the margin a loaded 2-core CI machine needs: nothing tighter.
  const droppedBoundMs = livenessBoundMs(TTL_MS);
  // Above the bounds the tests wait (bun's own default is 5 s): a late close fails with the bound's message.
  const TEST_BUDGET_MS = 60_000;
  let short: TestPaths;
  let shortArbiter: ArbiterProcess;
  let handing: FakeGuestfwd;

  beforeAll(async () => {
    short = testPaths("handover-ttl");
    shortArbiter = await ArbiterProcess.start(short, { env: { IVSH_HANDOVER_TTL_MS: String(TTL_MS) } });
    handing = socketGuestfwd("after-vm", short.socket);
  });
  beforeEach(() => shortArbiter.revive());
  afterAll(async () => {
    handing?.stop();
    await shortArbiter?.stop();
    short?.cleanup();
  });

  /** A real bridge hands a client's connection to the short-TTL arbiter; the client works under its VM. */
  async function handOverAClient(name: string): Promise<void> {
    const client = await connect({ tcp: `127.0.0.1:${handing.port}`, region: short.region, name });
    try {
      expect(client.vm).toBe("after-vm");
      expect(await handing.bridges.at(-1)!.exited).toBe(0);
      (await client.alloc(65536)).bytes[0] = 1;
    } finally {
      await client.close();
    }
  }

  test(
    "its descriptor is closed after the TTL with no other hand-over to drain it: the guest sees EOF",
    async () => {
      const baseline = arbiterFds(shortArbiter);
      const [mine, theirs] = streamSocketPair();
      const guest = await guestEnd(mine);
      try {
        sendWithFd(handoverPath(short.socket), datagram("unclaimed-vm", "n-unclaimed"), theirs);
        closeFd(theirs); // the arbiter's copy is the last one: closing it is what the guest sees
        // Read by this request for another nonce at the latest: the arbiter holds it, waiting for a claim.
        expect((await ask(handoverRequest("n-other"), short.socket)).kind).toBe(FrameKind.error);
        // Nothing reaches this arbiter from here on: only its own timer can close the descriptor.
        await within(guest.closed, droppedBoundMs, "the guest's connection closing");
        await settledFds(baseline, shortArbiter, droppedBoundMs);
        // Dropped, not adopted: its nonce claims nothing now.
        expect((await ask(handoverRequest("n-unclaimed"), short.socket)).kind).toBe(FrameKind.error);
      } finally {
        guest.socket.end();
      }
    },
    TEST_BUDGET_MS,
  );

  test(
    "a bridge killed between its datagram and its request: its guest's connection is closed, hand-overs go on",
    async () => {
      const baseline = arbiterFds(shortArbiter);
      const [mine, theirs] = streamSocketPair();
      const guest = await guestEnd(mine);
      // A process of its own with the guest's socket on stdin, as QEMU starts a bridge.
      const config = { socket: short.socket, vm: "killed-vm", nonce: "n-killed" };
      const fixture = join(FIXTURES, "dying-bridge.ts");
      const bridge = Bun.spawn([process.execPath, fixture, JSON.stringify(config)], {
        stdin: theirs,
        stdout: "pipe",
        stderr: "inherit",
      });
      closeFd(theirs);
      try {
        await new EventStream(bridge.stdout).next("sent");
        bridge.kill("SIGKILL");
        await bridge.exited;
        expect(bridge.signalCode).toBe("SIGKILL");
        // Another VM's hand-over while the dead bridge's datagram waits (this drains it into the arbiter) ...
        await handOverAClient("while-waiting");
        await within(guest.closed, droppedBoundMs, "the dead bridge's guest connection closing");
        await settledFds(baseline, shortArbiter, droppedBoundMs);
        // ... and one after it was dropped.
        await handOverAClient("after-drop");
      } finally {
        bridge.kill("SIGKILL");
        guest.socket.end();
      }
    },
    TEST_BUDGET_MS,
  );

  test(
    "a bad IVSH_HANDOVER_TTL_MS stops the arbiter at start with a usage error naming it (exit 2)",
    async () => {
      const bad = testPaths("handover-bad-ttl");
      try {
        const where = ["--region", bad.region, "--socket", bad.socket, "--state", bad.state];
        // Milliseconds, not a duration: "30s" is the mistake most likely made.
        const host = spawnBun([CLI, "host", "--exit-with-parent", "--size", "16MiB", ...where], {
          IVSH_HANDOVER_TTL_MS: "30s",
        });
        expect(await host.exit()).toBe(2); // refused before anything is opened: a usage error (it exited 1)
        expect(await host.stderr).toContain('Failed to use IVSH_HANDOVER_TTL_MS="30s" since it must be');
      } finally {
        bad.cleanup();
      }
    },
    TEST_BUDGET_MS,
  );
});
