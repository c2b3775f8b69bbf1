/**
 * What a session's end leaves in the arbiter (src/host/own.arbiter.ts): nothing of its liveness; and a session
 * resumed over its closing connection is counted connected once, and outlives that connection's close. The
 * arbiter runs in this process (its tables read directly); its clients are raw sockets to it.
 */
import { expect, test } from "bun:test";
import { decodeError } from "../src/protocol/codec.ts";
import { inProcessArbiter } from "./helpers/in-process-arbiter.ts";
import { eventually } from "./helpers/processes.ts";
import { rawClient } from "./helpers/raw.ts";

const own = inProcessArbiter("arbiter-ends");

/** Until every session has ended: the arbiter's own tables, not a time. */
async function allEnded(what: string): Promise<void> {
  await eventually(async () => own.arbiter.state.sessions.size === 0, 20_000, what);
}

test("a session ended by its goodbye or by its connection closing leaves no liveness entry behind", async () => {
  const leaving = await rawClient(own.paths.socket);
  await leaving.hello("says-goodbye");
  const dropped = await rawClient(own.paths.socket);
  await dropped.hello("drops-its-connection");
  expect(own.arbiter.liveness.size).toBe(2);
  expect(own.arbiter.connectedCount).toBe(2);
  leaving.send("bye", 2, {});
  await leaving.answer(2);
  dropped.socket.end();
  await allEnded("both sessions ended");
  // Left, each entry was expired again at every sweep, for as long as the arbiter ran.
  expect(own.arbiter.liveness.size).toBe(0);
  expect(own.arbiter.connectedCount).toBe(0);
  leaving.socket.end();
});

test("a session resumed while the arbiter closes its old connection is counted once and outlives that close", async () => {
  // Half-open: the arbiter's shutdown of its side does not close this one (a peer slow to read it).
  const first = await rawClient((socket) =>
    Bun.connect({ unix: own.paths.socket, socket: { ...socket, end() {} }, allowHalfOpen: true }),
  );
  const { sessionToken } = await first.hello("resumes-over-closing");
  // A frame that ends the conversation: the arbiter answers it and closes the connection, which stays
  // open (read and ignored) until this peer closes it.
  first.write(new Uint8Array([12, 0, 0, 0, 0xe7, 0x03, 0, 0, 3, 0, 0, 0])); // op 999, request id 3
  expect(decodeError((await first.answer(3)).body).code).toBe("UnknownOp");
  const second = await rawClient(own.paths.socket);
  const resumed = await second.hello("resumes-over-closing", sessionToken);
  expect(resumed.resumed).toBe(1);
  expect(own.arbiter.connectedCount).toBe(1);
  expect(own.arbiter.connections.vmConnections("host")).toBe(2);
  first.socket.end();
  await eventually(
    async () => own.arbiter.connections.vmConnections("host") === 1,
    20_000,
    "the arbiter saw the old connection close",
  );
  // Its close is the old connection's: the session lives on, on the new one.
  expect(own.arbiter.state.sessions.size).toBe(1);
  expect(own.arbiter.connectedCount).toBe(1);
  second.send("bye", 2, {});
  await second.answer(2);
  await allEnded("the resumed session said goodbye");
  expect(own.arbiter.connectedCount).toBe(0);
  second.socket.end();
});
