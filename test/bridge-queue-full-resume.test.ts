/**
 * A guest's session resuming through its VM's bridge (its arbiter restarted) while the socket's accept
 * queue is full (the new process stopped, or too busy to accept): the bridge answers the resume's hello
 * unasked (request id 0), as it answers a first connect() (bridge-queue-full.test.ts). That must fail only
 * the hello, which the resume tries again until its reconnect timeout, not the session: the client took the
 * unasked error as the end of the connection and marked the whole session lost at the first such try, so
 * it never came back, though the arbiter did.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import type { Subprocess } from "bun";
import { connect } from "../src/guest/index.ts";
import { fillAcceptQueue } from "./helpers/full-queue.ts";
import { fakeGuestfwd } from "./helpers/guestfwd.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, EventStream, eventually } from "./helpers/processes.ts";
import { testWithTool } from "./helpers/tools.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
beforeAll(async () => {
  paths = testPaths("bridge-queue-full-resume");
  arbiter = await ArbiterProcess.start(paths, { lease: "5s" });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

function exited(bridge: Subprocess | undefined): boolean {
  return bridge !== undefined && (bridge.exitCode !== null || bridge.signalCode !== null);
}

testWithTool(
  "python3",
  "a guest's session resuming through a bridge against a full accept queue comes back once it drains",
  async () => {
    const forward = fakeGuestfwd("queued-vm", paths.socket);
    try {
      const client = await connect({
        tcp: `127.0.0.1:${forward.port}`,
        region: paths.region,
        reconnectTimeoutMs: 30_000,
      });
      try {
        await arbiter.kill9();
        // What listens at the socket now accepts nothing: each resume's bridge finds its queue full.
        const listener = fillAcceptQueue(paths.socket, "listen");
        try {
          await new EventStream(listener.stdout).next("full");
          const tried = forward.bridges.length;
          await eventually(async () => exited(forward.bridges[tried]), 20_000, "a resume's bridge answering");
        } finally {
          listener.kill();
          await listener.exited;
        }
        await arbiter.restart();
        const outcome = await client.alloc(4096).then(
          async (segment) => {
            await segment.free();
            return "allocated";
          },
          (error: Error) => error.message,
        );
        expect(outcome).toBe("allocated");
        expect(client.reconnects).toBe(1);
      } finally {
        await client.close();
      }
    } finally {
      forward.stop();
    }
  },
  60_000,
);
