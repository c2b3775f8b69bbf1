/**
 * A second hello on a connection that already has its session (src/host/dispatch.ts checkFrame): refused
 * and the connection closed, as the protocol's order says (docs/protocol.md section 2). Served, it opened
 * another session on the same connection, and the first was left with nothing to end it but its lease.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { decodeError } from "../src/protocol/codec.ts";
import { FrameKind, PROTOCOL_VERSION, WIRE_MAGIC } from "../src/protocol/messages.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { exchangeRaw, helloFrame, requestFrame } from "./helpers/raw.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("second-hello");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("a second hello is refused with ProtocolState and its connection closed", async () => {
  const again = requestFrame("hello", 2, {
    magic: WIRE_MAGIC,
    version: PROTOCOL_VERSION,
    clientName: "again",
    pid: 1,
    sessionToken: "",
  });
  const { frames, closed } = await exchangeRaw(paths.socket, [helloFrame("first"), again], 20_000);
  expect(frames.map((frame) => [frame.requestId, frame.kind])).toEqual([
    [1, FrameKind.reply],
    [2, FrameKind.error],
  ]);
  const refusal = decodeError(frames[1]!.body);
  expect(refusal.code).toBe("ProtocolState");
  expect(refusal.message).toContain("this connection has already said hello");
  expect(closed).toBe(true);
});
