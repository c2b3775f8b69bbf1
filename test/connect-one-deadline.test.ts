/**
 * A host client given only the socket asks the arbiter which region it serves, then greets it: one wait,
 * connectTimeoutMs. The hellos' deadline was set only once the answer came, so an arbiter answering late
 * (here after 2.5 s of a 4 s timeout) got 4 s more of hellos: connect() gave up after 6.5 s, not 4.
 */
import { expect } from "bun:test";
import { existsSync } from "node:fs";
import { createConnection, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { DEFAULT_REGION } from "../src/defaults.ts";
import { connect } from "../src/guest/index.ts";
import { expectRejection } from "./helpers/errors.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { testUnless } from "./helpers/tools.ts";

// A lease longer than the answer is held: the arbiter must not end the asking session meanwhile.
const suite = sharedArbiter("connect-one-deadline", { lease: "10s" });

/** A client given no region maps the default one when it exists: this test needs it absent. */
const defaultRegionInTheWay = existsSync(DEFAULT_REGION)
  ? `${DEFAULT_REGION} exists on this machine, and a client given no region maps it`
  : undefined;

/**
 * A stand-in before the arbiter: the first connection (the region's question) is passed through, its
 * answers held until `holdMs` after it opened; every later one (a hello) is closed at once, as by an
 * arbiter restarting. Resolves with the socket's path and the count of connections closed so.
 */
async function slowAnswerThenClosed(holdMs: number) {
  const path = join(suite.paths.dir, "slow-answer.sock");
  const counts = { closed: 0 };
  let first = true;
  const server = createServer((client: Socket) => {
    if (!first) {
      counts.closed++;
      return void client.destroy();
    }
    first = false;
    const release = performance.now() + holdMs;
    const held = () => Math.max(0, release - performance.now());
    const arbiter = createConnection(suite.socket);
    client.on("data", (bytes) => arbiter.write(bytes));
    arbiter.on("data", (bytes) => setTimeout(() => client.write(bytes), held()));
    for (const [a, b] of [
      [client, arbiter],
      [arbiter, client],
    ] as const) {
      a.on("error", () => b.destroy());
      a.on("close", () => setTimeout(() => b.destroy(), held()));
    }
  });
  await new Promise<void>((listening) => server.listen(path, listening));
  return { path, counts, close: () => server.close() };
}

/**
 * Counted, not timed: connect() retries hellos closed so until its deadline, pausing 10, 20, 40, 80, 160,
 * then 250 ms: in the 1.5 s left after the answer, some 11 (the old code: some 21, in 4 s). The
 * answer comes 1.5 s before the deadline: a loaded machine's stall shorter than that still has it answered
 * in time (with 0.5 s, a stall there had the question itself time out, a failure of another kind).
 */
testUnless(
  defaultRegionInTheWay,
  "connect({ socket }): the region's question and the hellos share one connectTimeoutMs",
  async () => {
    const standIn = await slowAnswerThenClosed(2500);
    try {
      await expectRejection(
        connect({ socket: standIn.path, connectTimeoutMs: 4000 }),
        "ConnectionLost",
        /every connection closed before anything answered, for 4 s/,
      );
      expect(standIn.counts.closed).toBeGreaterThanOrEqual(1);
      expect(standIn.counts.closed).toBeLessThanOrEqual(14);
    } finally {
      standIn.close();
    }
  },
  30_000,
);
