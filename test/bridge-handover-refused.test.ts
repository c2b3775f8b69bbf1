/**
 * A bridge whose hand-over the arbiter refuses (an error frame for its handover request: the datagram was
 * dropped, for no room or a malformed one) has not handed the connection over: it relays it instead, and
 * says why, rather than exiting as if the arbiter had it. The "arbiter" here is a stand-in that answers
 * every frame with an error and swallows hand-over datagrams.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { failure } from "../src/errors.ts";
import { bindDatagramSocket, receiveWithFd } from "../src/ffi/fd-passing.ts";
import { closeFd } from "../src/ffi/index.ts";
import { handoverPath } from "../src/host/handover.ts";
import { encodeErrorFrame, FrameDecoder } from "../src/protocol/codec.ts";
import { bridgeOnSocketPair } from "./helpers/guestfwd.ts";
import { readUntil } from "./helpers/processes.ts";

const dir = mkdtempSync(join(tmpdir(), "ivsh-handover-refused-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a bridge whose handover request is refused relays the connection instead, naming the refusal", async () => {
  const socketPath = join(dir, "arbiter.sock");
  const refusal = "no connection was handed over under that nonce (stand-in)";
  const listener = Bun.listen<{ decoder: FrameDecoder }>({
    unix: socketPath,
    socket: {
      open: (socket) => {
        socket.data = { decoder: new FrameDecoder() };
      },
      data: (socket, bytes) => {
        socket.data.decoder.push(bytes);
        for (let frame = socket.data.decoder.next(); frame; frame = socket.data.decoder.next())
          socket.write(
            encodeErrorFrame(frame.op, frame.requestId, failure("ProtocolState", "adopt it", refusal)),
          );
      },
    },
  });
  const inbox = bindDatagramSocket(handoverPath(socketPath));
  const { bridge, mine } = bridgeOnSocketPair("refused-vm", socketPath);
  try {
    const said = await readUntil(bridge.stderr, "instead of handing it over");
    expect(said).toContain(`relaying the connection of VM 'refused-vm' instead of handing it over`);
    expect(said).toContain(refusal);
  } finally {
    bridge.kill();
    await bridge.exited;
    for (let passed = receiveWithFd(inbox, "inbox"); passed; passed = receiveWithFd(inbox, "inbox"))
      if (passed.fd !== undefined) closeFd(passed.fd);
    closeFd(inbox);
    closeFd(mine);
    listener.stop(true);
  }
}, 30_000);
