/**
 * A bridge whose hand-over request goes unanswered for its 5 s (an arbiter stalled: stopped, swapping,
 * overloaded) has already passed the guest's connection in its datagram, and its request is in the
 * arbiter's socket: the arbiter adopts that connection once it runs again. The bridge must not also relay
 * it, or two readers take turns at one guest socket (each reads some of the guest's frames).
 */
import { expect, test } from "bun:test";
import { readdirSync, readlinkSync } from "node:fs";
import { streamSocketPair } from "../src/ffi/fd-passing.ts";
import { closeFd } from "../src/ffi/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { CLI } from "./helpers/paths.ts";
import { eventually, livenessBoundMs, readUntil } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("handover-stall");

function holds(pid: number, link: string): boolean {
  return readdirSync(`/proc/${pid}/fd`).some((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`) === link;
    } catch {
      return false;
    }
  });
}

test("a bridge whose hand-over went unanswered while the arbiter stalled does not relay the connection too", async () => {
  const [mine, theirs] = streamSocketPair();
  const guestSocket = readlinkSync(`/proc/self/fd/${theirs}`);
  process.kill(suite.arbiter.pid, "SIGSTOP");
  const bridge = Bun.spawn(
    [process.execPath, CLI, "bridge", "--vm", "stalled-vm", "--socket", suite.socket],
    {
      stdin: theirs,
      stdout: theirs,
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1" },
    },
  );
  closeFd(theirs);
  try {
    // Its datagram and its request wait in the stopped arbiter's sockets; the bridge gives up on an answer.
    const said = await readUntil(
      bridge.stderr,
      (text) => text.includes("\n") || text.includes("did not answer"),
    );
    expect(said).toContain("did not answer");
    process.kill(suite.arbiter.pid, "SIGCONT");
    await fetchStatus({ unix: suite.socket });
    // The arbiter, running again, reads the request and adopts the connection handed over ...
    await eventually(
      async () => holds(suite.arbiter.pid, guestSocket),
      livenessBoundMs(1000),
      "the arbiter adopting",
    );
    // ... so the bridge must not be relaying it as well.
    const bound = livenessBoundMs(1000);
    await eventually(
      async () => bridge.exitCode !== null,
      bound,
      `the bridge exiting (it said: ${JSON.stringify(said.trim())}; the arbiter holds the guest's socket too)`,
    );
  } finally {
    process.kill(suite.arbiter.pid, "SIGCONT");
    bridge.kill("SIGKILL");
    closeFd(mine);
  }
}, 60_000);
