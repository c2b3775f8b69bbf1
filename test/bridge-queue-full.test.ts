/**
 * A guest connecting through its VM's guestfwd to an arbiter whose accept queue is full (stopped, or too
 * busy to accept): the host's bridge cannot connect. It answered the guest's hello with why, as a bridge
 * that finds no arbiter does, and the guest's connect() failed at once, where a host client waits for such
 * an arbiter until its connect timeout (connect-queue-full.test.ts). Now the bridge answers unasked
 * (request id 0), and the guest tries again, each time through a new bridge, until its connect timeout.
 */
import { afterEach, expect } from "bun:test";
import type { Subprocess } from "bun";
import { connect } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { decodeError, encodeFrame, type Frame, FrameDecoder } from "../src/protocol/codec.ts";
import { FrameKind, messages, PROTOCOL_VERSION, WIRE_MAGIC } from "../src/protocol/messages.ts";
import { expectRejection } from "./helpers/errors.ts";
import { fillAcceptQueue } from "./helpers/full-queue.ts";
import { type FakeGuestfwd, fakeGuestfwd, socketGuestfwd } from "./helpers/guestfwd.ts";
import { CLI } from "./helpers/paths.ts";
import { EventStream, eventually } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { testWithTool } from "./helpers/tools.ts";

const suite = sharedArbiter("bridge-queue-full", { lease: "1000ms" });

let filler: ReturnType<typeof fillAcceptQueue> | undefined;
afterEach(async () => {
  filler?.kill();
  await filler?.exited;
  filler = undefined;
  suite.arbiter.spawned.proc.kill("SIGCONT");
  const answers = () =>
    fetchStatus({ unix: suite.socket }).then(
      () => true,
      () => false,
    );
  await eventually(answers, 20_000, "the arbiter answering again");
});

/** Stops the shared arbiter and fills its accept queue. */
async function stopWithFullQueue(): Promise<void> {
  suite.arbiter.spawned.proc.kill("SIGSTOP");
  filler = fillAcceptQueue(suite.socket);
  const { held } = await new EventStream(filler.stdout).next("full");
  expect(held).toBeGreaterThan(0);
}

/** connect() through `forward` while the queue is full; the queue drains a second later. */
async function connectsOnceDrained(forward: FakeGuestfwd): Promise<void> {
  await stopWithFullQueue();
  try {
    const connecting = connect({
      tcp: `127.0.0.1:${forward.port}`,
      region: suite.region,
      connectTimeoutMs: 20_000,
    });
    const outcome = connecting.then(
      () => "connected",
      (error: Error) => error.message,
    );
    await Bun.sleep(1000);
    filler?.kill();
    suite.arbiter.spawned.proc.kill("SIGCONT");
    expect(await outcome).toBe("connected");
    await (await connecting).close();
  } finally {
    forward.stop();
  }
}

function alive(bridge: Subprocess): boolean {
  if (bridge.exitCode !== null || bridge.signalCode !== null) return false;
  try {
    process.kill(bridge.pid, 0);
    return true;
  } catch {
    return false;
  }
}

testWithTool(
  "python3",
  "a guest's connect() through a bridge waits for an arbiter whose accept queue is full, as a host client does",
  async () => {
    // Relaying (the bridge's stdin and stdout are two pipes): it failed at once before the fix.
    await connectsOnceDrained(fakeGuestfwd("queued-vm", suite.socket));
  },
  30_000,
);

testWithTool(
  "python3",
  "a guest's connect() through a bridge that hands connections over waits for a full accept queue too",
  async () => {
    await connectsOnceDrained(socketGuestfwd("queued-vm", suite.socket));
  },
  30_000,
);

/** connect() through `forward` given up after `timeoutMs` on a full queue: it says so, and no bridge is left. */
async function givesUpLeavingNoBridge(forward: FakeGuestfwd, timeoutMs: number): Promise<void> {
  await stopWithFullQueue();
  try {
    const connecting = connect({
      tcp: `127.0.0.1:${forward.port}`,
      region: suite.region,
      connectTimeoutMs: timeoutMs,
    });
    await expectRejection(
      connecting,
      "ArbiterUnreachable",
      /could not connect to .*: it accepts no more connections now: its queue of connections waiting to be accepted is full \(its process may be stopped, or overloaded: try again, or see why it does not accept\)/,
    );
    // It tried again (each try is a bridge of its own), and none of those is left once it gave up.
    expect(forward.bridges.length).toBeGreaterThan(1);
    await eventually(
      async () => !forward.bridges.some(alive),
      20_000,
      "every bridge gone once the guest gave up",
    );
  } finally {
    forward.stop();
  }
}

testWithTool(
  "python3",
  "a guest's connect() given up on a full accept queue says so, and leaves no bridge behind",
  async () => {
    await givesUpLeavingNoBridge(fakeGuestfwd("queued-vm", suite.socket), 3000);
  },
  30_000,
);

testWithTool(
  "python3",
  "a guest's connect() through a handing-over bridge, given up on a full accept queue, says so",
  async () => {
    // Longer than ten tries: a stopped arbiter's hand-over socket holds ten datagrams (max_dgram_qlen).
    await givesUpLeavingNoBridge(socketGuestfwd("queued-vm", suite.socket), 15_000);
  },
  60_000,
);

/*
 * New connections are answered unasked (request id 0: the guest tries again), a resume's hello with its
 * own id, as before id 0 was used: a client from before that takes an id-0 error as the end of its
 * session, and an answer to its hello as a try that failed (docs/protocol.md, section 12). On the wire.
 */
/** One relaying bridge, sent `hello` while the arbiter is stopped with its queue full: its answer. */
async function bridgeAnswer(sessionToken: string, requestId: number): Promise<Frame> {
  await stopWithFullQueue();
  const bridge = tracked(
    Bun.spawn([process.execPath, CLI, "bridge", "--vm", "old-guest", "--socket", suite.socket], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "ignore",
      env: { ...process.env, TMPDIR: suite.dir }, // its full-queue marker (src/host/bridge-episodes.ts)
    }),
  );
  const fields = { magic: WIRE_MAGIC, version: PROTOCOL_VERSION, clientName: "old", pid: 1, sessionToken };
  bridge.stdin.write(
    encodeFrame(FrameKind.request, messages.hello.op, requestId, messages.hello.request, fields),
  );
  await bridge.stdin.flush();
  const decoder = new FrameDecoder();
  for await (const chunk of bridge.stdout) {
    decoder.push(chunk);
    const frame = decoder.next();
    if (frame) {
      bridge.kill();
      return frame;
    }
  }
  throw new Error(`the bridge closed without answering (exit ${await bridge.exited})`);
}

testWithTool(
  "python3",
  "a new connection's hello, refused by a full queue, is answered unasked (request id 0)",
  async () => {
    const frame = await bridgeAnswer("", 5);
    expect(frame.kind).toBe(FrameKind.error);
    expect(frame.requestId).toBe(0);
    expect(decodeError(frame.body).code).toBe("ArbiterUnreachable");
  },
);

testWithTool(
  "python3",
  "a resume's hello, refused by a full queue, is answered with its own request id, as older clients retry",
  async () => {
    const frame = await bridgeAnswer("a-session-token", 5);
    expect(frame.kind).toBe(FrameKind.error);
    expect(frame.requestId).toBe(5);
    expect(frame.op).toBe(messages.hello.op);
    expect(decodeError(frame.body).code).toBe("ArbiterUnreachable");
  },
);
