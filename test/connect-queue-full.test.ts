/**
 * An arbiter whose queue of connections waiting to be accepted is full (stopped, or too busy to accept a
 * burst of clients): the kernel refuses a Unix connection with EAGAIN, which Bun reports as ECONNREFUSED,
 * and the client said "nothing listens on it (start it with `ivsh host`)" of a running arbiter, and
 * connect() failed at once, where an arbiter that accepted and is silent is waited for.
 */
import { expect } from "bun:test";
import { existsSync } from "node:fs";
import { DEFAULT_REGION } from "../src/defaults.ts";
import { closeFd } from "../src/ffi/index.ts";
import { connect } from "../src/guest/index.ts";
import { expectRejection } from "./helpers/errors.ts";
import { fullQueueOf } from "./helpers/full-queue.ts";
import { bridgeOnSocketPair } from "./helpers/guestfwd.ts";
import { runCli } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { testUnless, testWithTool, toolMissing } from "./helpers/tools.ts";

const suite = sharedArbiter("queue-full", { lease: "1000ms" });

const fullQueue = fullQueueOf(suite);

/** connect() to the stopped arbiter with a full queue: still trying once the queue drains, it gets in. */
async function connectsOnceDrained(options: { socket: string; region?: string }): Promise<void> {
  await fullQueue.stop();
  const connecting = connect({ ...options, connectTimeoutMs: 20_000 });
  const outcome = connecting.then(
    () => "connected",
    (error: Error) => error.message,
  );
  await Bun.sleep(1000);
  fullQueue.drain();
  expect(await outcome).toBe("connected");
  await (await connecting).close();
}

testWithTool(
  "python3",
  "status to an arbiter with a full accept queue: not 'nothing listens'",
  async () => {
    await fullQueue.stop();
    const result = await runCli(["status", "--socket", suite.socket]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).not.toContain("nothing listens");
    expect(result.stderr).not.toContain("start it with `ivsh host");
    expect(result.stderr).toContain(
      `Failed to connect to the arbiter at ${suite.socket} since it accepts no more`,
    );
    expect(result.stderr).toContain("may be stopped, or overloaded");
  },
  30_000,
);

testWithTool(
  "python3",
  "connect() waits for an arbiter whose accept queue is full, as for one stopped",
  async () => {
    // Before the fix it had failed at once.
    await connectsOnceDrained({ socket: suite.socket, region: suite.region });
  },
  30_000,
);

/** A client given no region maps the default one when it exists: the next test needs it absent. */
const defaultRegionInTheWay = existsSync(DEFAULT_REGION)
  ? `${DEFAULT_REGION} exists on this machine, and a client given no region maps it`
  : undefined;

testUnless(
  defaultRegionInTheWay ?? toolMissing("python3"),
  "connect({ socket }) alone waits for an arbiter whose accept queue is full too",
  async () => {
    // Given no region, it first asks the arbiter for it: that question failed at once on a full queue.
    await connectsOnceDrained({ socket: suite.socket });
  },
  30_000,
);

testUnless(
  defaultRegionInTheWay ?? toolMissing("python3"),
  "connect({ socket, connectTimeoutMs: 0 }) does not retry a full accept queue",
  async () => {
    // 0 is "do not retry": asking the arbiter for its region retried the full queue for a second.
    await fullQueue.stop();
    const connecting = connect({ socket: suite.socket, connectTimeoutMs: 0 });
    const outcome = connecting.then(
      () => "connected",
      (error: unknown) => error,
    );
    // Drained once that one try failed (however late a loaded machine makes it), or 600 ms in: well
    // before a second of retries ran out. A fixed 600 ms let a try stalled past it find the queue drained.
    await Promise.race([outcome, Bun.sleep(600)]);
    fullQueue.drain();
    const result = await outcome;
    if (result === "connected") await (await connecting).close();
    await expectRejection(Promise.reject(result), "ArbiterUnreachable", /queue of connections waiting/);
  },
  30_000,
);

testUnless(
  defaultRegionInTheWay ?? toolMissing("python3"),
  "connect({ socket }) alone, waiting for a full accept queue, ends when its signal aborts",
  async () => {
    await fullQueue.stop();
    const aborting = new AbortController();
    const connecting = connect({ socket: suite.socket, connectTimeoutMs: 600_000, signal: aborting.signal });
    await Bun.sleep(500);
    aborting.abort();
    // A liveness bound far below the timeout: the abort must end the wait, not the queue draining.
    const outcome = await Promise.race([
      connecting.then(
        () => "connected",
        (error: unknown) => error,
      ),
      Bun.sleep(15_000).then(() => "still waiting 15 s after the abort"),
    ]);
    await expectRejection(Promise.reject(outcome), "Interrupted");
  },
  30_000,
);

testWithTool(
  "python3",
  "a bridge to an arbiter with a full accept queue says so, not 'start ivsh host'",
  async () => {
    await fullQueue.stop();
    // Relaying, as a bridge does when it cannot hand the connection over: it connects to the socket itself.
    const { bridge, mine } = bridgeOnSocketPair("queued-vm", suite.socket, {
      env: { IVSH_BRIDGE: "relay", TMPDIR: suite.dir },
      stdout: "pipe",
    });
    try {
      expect(await bridge.exited).toBe(1);
      const said = await new Response(bridge.stderr).text();
      expect(said).toContain(`could not connect to ${suite.socket}: it accepts no more connections`);
      expect(said).not.toContain("start `ivsh host");
    } finally {
      closeFd(mine);
    }
  },
  30_000,
);
