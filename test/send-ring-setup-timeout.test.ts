/**
 * A sender's --timeout limits its wait for a receiver, not its ring's setup: until the ring is up, whether a
 * receiver is there cannot be told (peer-wait.ts: unknownUntilTold), and a sender whose ring request the
 * arbiter was slow to answer gave up on a receiver it had not yet been able to look for. The arbiter is
 * stopped (SIGSTOP) as its answer to the sender's hello passes through a relay, so the ring request waits
 * for it; its lease (30 s) is long enough that it is not yet taken for silent (after half a lease).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { hookingRelay, stopSweeps } from "./helpers/hello-relay.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, exitOrKill } from "./helpers/processes.ts";
import { idleEnd } from "./helpers/transfer.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("send-ring-setup-timeout");
  arbiter = await ArbiterProcess.start(paths, { lease: "30s" });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

/** How long the arbiter is kept stopped past the sender's 1 s --timeout: well short of half its lease. */
const STOPPED_MS = 5000;

test("send whose ring request waits past its --timeout does not give up until its ring is set up", async () => {
  const relayed = join(paths.dir, "hello-then-stopped.sock");
  const relay = hookingRelay(paths.socket, relayed);
  let stopped = false;
  relay.state.onAnswer = () => {
    stopSweeps(arbiter.pid);
    stopped = true;
  };
  [relay.state.armed, relay.state.drop] = [true, false];
  const { proc, said } = idleEnd({ ...paths, socket: relayed }, "send", "slow-ring", "1s");
  try {
    // Before: the 1 s limit ended the ring request, the sender exited while the arbiter was still stopped.
    let whileStopped: number | "still running" = "still running";
    try {
      whileStopped = await Promise.race([
        proc.exited,
        Bun.sleep(STOPPED_MS).then(() => "still running" as const),
      ]);
    } finally {
      process.kill(arbiter.pid, "SIGCONT");
    }
    expect(stopped).toBe(true);
    expect({ whileStopped, said: said.text }).toMatchObject({ whileStopped: "still running" });
    // Its ring set up once the arbiter answers, it finds no receiver and gives up as its limit says.
    expect(await exitOrKill(proc, 30_000)).toBe(1);
    expect(said.text).toContain(
      "Failed to send on channel 'slow-ring' since no receiver showed up within 1 s (--timeout)",
    );
  } finally {
    proc.kill("SIGKILL");
    relay.listener.stop(true);
  }
}, 60_000);
