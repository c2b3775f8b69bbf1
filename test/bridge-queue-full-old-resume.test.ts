/**
 * A bridge that cannot get into a full accept queue answers a new connection's hello unasked (request id
 * 0: the guest tries again) but a resume's hello with its own id, as before id 0 was used: a client from
 * before that takes an id-0 error as the end of its session, and a resume answered with its own id as a
 * try that failed (docs/protocol.md, section 12). Checked on the wire: the hello a guest sends, the frame
 * the bridge sends back.
 */
import { afterEach, expect } from "bun:test";
import { fetchStatus } from "../src/guest/inspect.ts";
import { decodeError, encodeFrame, type Frame, FrameDecoder } from "../src/protocol/codec.ts";
import { FrameKind, messages, PROTOCOL_VERSION, WIRE_MAGIC } from "../src/protocol/messages.ts";
import { fillAcceptQueue } from "./helpers/full-queue.ts";
import { CLI } from "./helpers/paths.ts";
import { EventStream, eventually } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { testWithTool } from "./helpers/tools.ts";

const suite = sharedArbiter("bridge-queue-full-old-resume", { lease: "1000ms" });

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

/** One relaying bridge, sent `hello` while the arbiter is stopped with its queue full: its answer. */
async function bridgeAnswer(sessionToken: string, requestId: number): Promise<Frame> {
  suite.arbiter.spawned.proc.kill("SIGSTOP");
  filler = fillAcceptQueue(suite.socket);
  await new EventStream(filler.stdout).next("full");
  const bridge = tracked(
    Bun.spawn([process.execPath, CLI, "bridge", "--vm", "old-guest", "--socket", suite.socket], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "ignore",
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
