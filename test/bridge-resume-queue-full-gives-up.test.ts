/**
 * A guest's session resuming through its VM's bridge to a socket whose accept queue stays full (the new
 * arbiter stopped, or too busy to accept) until the reconnect timeout: the bridge answers each resume's hello
 * with its own request id (bridge-queue-full-old-resume.test.ts), so the client never saw a QueueFull, took
 * each try for an arbiter that is gone, and ended the session with "it went away and did not come back ...
 * (start `ivsh host` again)", as resume-queue-full.test.ts once found for a host client: a process is there.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import type { IvshError } from "../src/errors.ts";
import { connect } from "../src/guest/index.ts";
import { fillAcceptQueue } from "./helpers/full-queue.ts";
import { fakeGuestfwd } from "./helpers/guestfwd.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, EventStream } from "./helpers/processes.ts";
import { testWithTool } from "./helpers/tools.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
beforeAll(async () => {
  paths = testPaths("bridge-resume-queue-full-gives-up");
  arbiter = await ArbiterProcess.start(paths, { lease: "1000ms" });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

testWithTool(
  "python3",
  "a resume through a bridge refused by a full accept queue until its timeout says so, not 'start ivsh host again'",
  async () => {
    const forward = fakeGuestfwd("queued-vm", paths.socket);
    try {
      const client = await connect({
        tcp: `127.0.0.1:${forward.port}`,
        region: paths.region,
        reconnectTimeoutMs: 5000,
      });
      await arbiter.kill9();
      const listener = fillAcceptQueue(paths.socket, "listen");
      try {
        await new EventStream(listener.stdout).next("full");
        // Held while the link is down, then failed with the session's loss once the resume gives up.
        const failed = await client.alloc(64).then(
          () => undefined,
          (error: IvshError) => error,
        );
        const outcome = failed?.message ?? "allocated";
        expect(failed?.code).toBe("ConnectionLost");
        expect(outcome).not.toContain("start `ivsh host` again");
        expect(outcome).toContain("it accepts no more connections now");
      } finally {
        listener.kill();
        await listener.exited;
        await client.close();
      }
    } finally {
      forward.stop();
    }
  },
  40_000,
);
