/**
 * `ivsh status` against a peer that sends part of a frame header and then nothing waited its 10 s and said
 * the arbiter "accepted the connection but did not answer (its process may be stopped, or overloaded)": a
 * user went looking for a slow arbiter when something else, sending, held the socket. It says what it got
 * (the bytes), from which socket, and that they are the start of a frame that never came whole.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { cutShort } from "../src/guest/link-errors.ts";
import { FrameDecoder } from "../src/protocol/codec.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { runCli } from "./helpers/processes.ts";

/** The first 6 of a 12-byte frame header: length 44, op 1 (little-endian), then nothing. */
const HALF_HEADER = Uint8Array.of(0x2c, 0x00, 0x00, 0x00, 0x01, 0x00);
/** A whole header of a 44-byte reply (kind 1) to request 1, its body yet to come: an arbiter's answer begun. */
const REPLY_HEADER = Uint8Array.of(0x2c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00);

let paths: TestPaths;
let answering: TestPaths;
const peers: { stop(closeActive: boolean): void }[] = [];
/** A peer on `socket` that sends `bytes` to each connection, then nothing. */
function sending(socket: string, bytes: Uint8Array): void {
  const handlers = {
    open(peer: { write(b: Uint8Array): number }) {
      peer.write(bytes);
    },
    data() {},
  };
  peers.push(Bun.listen({ unix: socket, socket: handlers }));
}
beforeAll(() => {
  paths = testPaths("status-cut-short");
  answering = testPaths("status-cut-short-answer");
  sending(paths.socket, HALF_HEADER);
  sending(answering.socket, REPLY_HEADER);
});
afterAll(() => {
  for (const peer of peers) peer.stop(true);
  paths?.cleanup();
  answering?.cleanup();
});

test("status of a peer that sends half a frame header says what it got, not that it did not answer", async () => {
  const result = await runCli(["status", "--socket", paths.socket]);
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toContain(
    `Failed to greet the arbiter at ${paths.socket} since the peer there sent 6 bytes (2c 00 00 00 01 00), ` +
      "the start of a frame's 12-byte header, then nothing for 10 s",
  );
  expect(result.stderr).not.toContain("did not answer");
}, 60_000);

// An arbiter answering slowly (its answer relayed late through a VM's bridge) sent a header an arbiter sends.
test("status of a peer that sends a whole reply header and no body names it the arbiter, not 'no ivsh arbiter'", async () => {
  const result = await runCli(["status", "--socket", answering.socket]);
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toContain(
    `Failed to greet the arbiter at ${answering.socket} since the arbiter sent 12 bytes (2c 00 00 00 01 00 01 00 ` +
      "01 00 00 00), the start of a 44-byte frame, then nothing for 10 s (its process may be stopped, or overloaded)",
  );
  expect(result.stderr).not.toContain("no ivsh arbiter");
}, 60_000);

test("a frame whose header came whole is told by its length; one after a first frame, as the arbiter's", () => {
  const decoder = new FrameDecoder();
  const bytes = new Uint8Array(20);
  new DataView(bytes.buffer).setUint32(0, 64, true);
  decoder.push(bytes);
  const reading = { decoder, framed: false, opening: bytes };
  expect(cutShort({ unix: "/run/x.sock" }, reading, "10 s")).toBe(
    "the peer there sent 20 bytes (40 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 …), the start of a 64-byte " +
      "frame, then nothing for 10 s: it is no ivsh arbiter, or one stopped in the middle of its answer (check " +
      "--socket, or connect({ socket }); `ss -xlp` shows which process listens there)",
  );
  expect(cutShort({ unix: "/run/x.sock" }, { ...reading, framed: true }, "10 s")).toBe(
    "the arbiter sent 20 bytes (40 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 …), the start of a 64-byte " +
      "frame, then nothing for 10 s (its process may be stopped, or overloaded)",
  );
  expect(
    cutShort({ unix: "/run/x.sock" }, { decoder: new FrameDecoder(), framed: false, opening: bytes }, "10 s"),
  ).toBeUndefined();
});
