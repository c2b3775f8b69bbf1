/**
 * A connection the arbiter is closing (it answered a frame that ends the conversation) is read only so its
 * peer can still read that answer (src/host/dispatch.ts handleData): what the peer goes on writing is
 * dropped, not kept in the connection's decoder, where a peer writing on would grow the arbiter until the
 * grace period ended. The arbiter runs in this process, so the closed connection's decoder can be read.
 */
import { expect, test } from "bun:test";
import { decodeError } from "../src/protocol/codec.ts";
import { inProcessArbiter } from "./helpers/in-process-arbiter.ts";
import { eventually } from "./helpers/processes.ts";
import { rawClient } from "./helpers/raw.ts";

const own = inProcessArbiter("closing-reads");

test("bytes written to a closing connection are dropped, not buffered", async () => {
  // Half-open: the arbiter's shutdown of its side leaves this one writing, as a peer that has not read it.
  const peer = await rawClient((socket) =>
    Bun.connect({ unix: own.paths.socket, socket: { ...socket, end() {} }, allowHalfOpen: true }),
  );
  const { clientId } = await peer.hello("writes-on");
  const connection = own.arbiter.connectionOf(clientId)!;
  peer.write(new Uint8Array([12, 0, 0, 0, 0xe7, 0x03, 0, 0, 2, 0, 0, 0])); // op 999: UnknownOp ends it
  expect(decodeError((await peer.answer(2)).body).code).toBe("UnknownOp");
  expect(connection.closing).toBe(true);
  // Bytes no frame begins with (a length over the most a frame may have), then this end closed: the
  // arbiter has read them all once it has seen the close, which ends the session.
  peer.write(new Uint8Array(256 << 10).fill(0xff));
  peer.socket.end();
  await eventually(async () => own.arbiter.state.sessions.size === 0, 20_000, "the arbiter seeing the close");
  // Kept, they would be a frame whose length is refused (BadFrame) here.
  expect(connection.decoder.next()).toBeUndefined();
});
