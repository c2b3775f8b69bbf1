/**
 * The hand-over socket holds only net.unix.max_dgram_qlen datagrams until the arbiter reads them. While the
 * arbiter is stalled (stopped, overloaded), bridges past that many must still give up after their answer
 * timeout, as the first ones do, and not wait in sendmsg(2) for as long as it stalls: a guest retries its
 * connection every few seconds, each try starts a bridge of ~40 MiB, and those would pile up on the host.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { closeFd } from "../src/ffi/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { bridgeOnSocketPair } from "./helpers/guestfwd.ts";
import { eventually, livenessBoundMs } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("handover-queue-full");

/** How many datagrams a Unix datagram socket queues unread (10 unless the host changed it). */
function datagramQueueLength(): number {
  try {
    return Number(readFileSync("/proc/sys/net/unix/max_dgram_qlen", "utf8").trim()) || 10;
  } catch {
    return 10;
  }
}

test("bridges past the hand-over socket's queue give up while the arbiter is stopped, as the first ones do", async () => {
  // Over 64 would be too many Bun processes for a test: a host with a longer queue is not tested here.
  const count = Math.min(datagramQueueLength() + 2, 64);
  const guestEnds: number[] = [];
  process.kill(suite.arbiter.pid, "SIGSTOP");
  const bridges = Array.from({ length: count }, () => {
    const { bridge, mine } = bridgeOnSocketPair("queued-vm", suite.socket);
    guestEnds.push(mine);
    return bridge;
  });
  try {
    // Each waits its 5 s for an answer (or for room in the queue), then exits 1 without relaying.
    await eventually(
      async () => bridges.every((bridge) => bridge.exitCode !== null),
      livenessBoundMs(5000),
      "every bridge exiting while the arbiter is stopped",
    ).catch((error: Error) => {
      const waiting = bridges.filter((bridge) => bridge.exitCode === null).length;
      throw new Error(`${error.message}: ${waiting} of ${count} still wait`);
    });
    expect(bridges.map((bridge) => bridge.exitCode)).toEqual(bridges.map(() => 1));
    const said = await Promise.all(bridges.map((bridge) => new Response(bridge.stderr).text()));
    for (const text of said) {
      expect(text).toContain("Failed to hand the guest connection to the arbiter");
      expect(text).not.toContain("relaying");
    }
  } finally {
    process.kill(suite.arbiter.pid, "SIGCONT");
    for (const bridge of bridges) bridge.kill("SIGKILL");
    for (const fd of guestEnds) closeFd(fd);
  }
  // The arbiter, running again, still serves.
  expect((await fetchStatus({ unix: suite.socket })).report).toBeDefined();
}, 60_000);
