/**
 * A hand-over answered leaves no timer behind (src/host/bridge-handover.ts): `ivsh bridge` ends when its
 * event loop is empty, so a 5 s answer timer left running kept every bridge that had handed its
 * connection over (~40 MiB each) alive 5 s more, one per guest connection. In this process: a stand-in
 * arbiter (its hand-over socket bound here, its stream socket answering the handover request), and the
 * timers handOver sets recorded and checked cleared. An arbiter that closes the connection without an
 * answer fails the hand-over at once as ArbiterUnreachable (the bridge then relays), not after the 5 s as
 * a Timeout (which leaves the connection with the arbiter: the bridge would give the guest up).
 */
import { afterAll, afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { isIvshError } from "../src/errors.ts";
import { bindDatagramSocket, receiveWithFd } from "../src/ffi/fd-passing.ts";
import { closeFd } from "../src/ffi/index.ts";
import { handOver, leftWithArbiter } from "../src/host/bridge-handover.ts";
import { handoverPath } from "../src/host/handover.ts";
import { encodeFrame } from "../src/protocol/codec.ts";
import { FrameKind, messages } from "../src/protocol/messages.ts";
import { restoreTimers, timersCleared, watchTimers } from "./helpers/leftovers.ts";

const dir = mkdtempSync("/tmp/ivsh-bridge-handover-timers-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(restoreTimers);

test("a hand-over answered at once clears every timer it set", async () => {
  const socket = join(dir, "arbiter.sock");
  const inbox = bindDatagramSocket(handoverPath(socket));
  const listener = Bun.listen({
    unix: socket,
    socket: {
      data(connection) {
        // The datagram came first: its descriptor (this process's stdin) is not kept.
        const passed = receiveWithFd(inbox, "the stand-in's hand-over socket");
        if (passed?.fd !== undefined) closeFd(passed.fd);
        connection.write(encodeFrame(FrameKind.reply, messages.handover.op, 1, messages.handover.reply, {}));
      },
    },
  });
  watchTimers();
  try {
    await handOver("timers-vm", socket);
  } finally {
    restoreTimers();
    listener.stop(true);
    closeFd(inbox);
  }
  expect(timersCleared().length).toBeGreaterThan(0);
  expect(timersCleared().filter((cleared) => !cleared)).toEqual([]);
});

test("an arbiter that closes without answering fails the hand-over at once: ArbiterUnreachable, not left with it", async () => {
  const socket = join(dir, "closing.sock");
  const inbox = bindDatagramSocket(handoverPath(socket));
  const listener = Bun.listen({
    unix: socket,
    socket: {
      data(connection) {
        const passed = receiveWithFd(inbox, "the stand-in's hand-over socket");
        if (passed?.fd !== undefined) closeFd(passed.fd);
        connection.end();
      },
    },
  });
  let thrown: unknown;
  try {
    await handOver("closed-vm", socket).catch((error: unknown) => {
      thrown = error;
    });
  } finally {
    listener.stop(true);
    closeFd(inbox);
  }
  expect(isIvshError(thrown, "ArbiterUnreachable")).toBe(true);
  expect(String(thrown)).toContain("it closed the connection");
  expect(leftWithArbiter(thrown)).toBe(false);
});
