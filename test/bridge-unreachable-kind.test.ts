/**
 * What a relaying bridge that cannot connect throws (src/host/bridge.ts bridgeUnreachable), in this
 * process: no file at --socket, or a dead arbiter's socket, is NoArbiter (an arbiter restarting looks so:
 * the bridge command counts such refusals per episode); a file that is not a socket is a plain
 * ArbiterUnreachable, no arbiter could ever serve there (only the VM's --socket can be wrong), so each
 * bridge says so and none is counted away. A bridge that answered its guest's hello with why leaves no
 * timer behind (`ivsh bridge` ends when its event loop is empty: the 2 s wait for a hello kept it).
 */
import { afterAll, afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isIvshError } from "../src/errors.ts";
import { bindDatagramSocket } from "../src/ffi/fd-passing.ts";
import { closeFd } from "../src/ffi/index.ts";
import { NoArbiter, runBridge } from "../src/host/bridge.ts";
import { encodeFrame, FrameDecoder } from "../src/protocol/codec.ts";
import { FrameKind, messages } from "../src/protocol/messages.ts";
import { restoreTimers, timersCleared, watchTimers } from "./helpers/leftovers.ts";

const dir = mkdtempSync("/tmp/ivsh-bridge-unreachable-kind-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(restoreTimers);

/** What runBridge throws for `socket`, its guest gone at once (nothing to answer). */
async function thrownFor(socket: string): Promise<unknown> {
  const input = new ReadableStream<Uint8Array>({ start: (controller) => controller.close() });
  try {
    await runBridge("kind-vm", socket, { input, output: { write: () => undefined } });
  } catch (error) {
    return error;
  }
  throw new Error(`the bridge to ${socket} did not fail`);
}

test("no file at --socket: NoArbiter, naming the arbiter to start", async () => {
  const error = await thrownFor(join(dir, "missing.sock"));
  expect(error).toBeInstanceOf(NoArbiter);
  expect(String(error)).toContain("start `ivsh host --socket");
});

test("a socket file nobody has bound (a dead arbiter's): NoArbiter", async () => {
  const path = join(dir, "dead.sock");
  closeFd(bindDatagramSocket(path));
  expect(await thrownFor(path)).toBeInstanceOf(NoArbiter);
});

test("a regular file at --socket: ArbiterUnreachable, not NoArbiter, naming only the VM's --socket", async () => {
  const path = join(dir, "regular-file");
  writeFileSync(path, "");
  const error = await thrownFor(path);
  expect(isIvshError(error, "ArbiterUnreachable")).toBe(true);
  expect(error).not.toBeInstanceOf(NoArbiter);
  expect(String(error)).not.toContain("start `ivsh host");
  expect(String(error)).toContain("start the VM with the --socket the arbiter serves");
});

test("a bridge that found no arbiter answers the guest's hello with why, and leaves no timer behind", async () => {
  const hello = encodeFrame(FrameKind.request, messages.hello.op, 3, messages.hello.request, {
    magic: 0,
    version: 0,
    clientName: "guest",
    pid: 1,
    sessionToken: "",
  });
  let sent = false;
  const input = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent) return new Promise<void>(() => undefined); // the guest waits for its answer
      sent = true;
      controller.enqueue(hello);
    },
  });
  const received: Uint8Array[] = [];
  watchTimers();
  let thrown: unknown;
  try {
    await runBridge("kind-vm", join(dir, "none.sock"), {
      input,
      output: { write: (bytes) => received.push(bytes.slice()) },
    });
  } catch (error) {
    thrown = error;
  } finally {
    restoreTimers();
  }
  expect(thrown).toBeInstanceOf(NoArbiter);
  const decoder = new FrameDecoder();
  for (const bytes of received) decoder.push(bytes);
  const answer = decoder.next();
  expect([answer?.kind, answer?.op, answer?.requestId]).toEqual([FrameKind.error, messages.hello.op, 3]);
  expect(timersCleared().length).toBeGreaterThan(0);
  expect(timersCleared().filter((cleared) => !cleared)).toEqual([]);
});
