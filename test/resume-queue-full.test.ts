/**
 * A session resuming (its link dropped) to a socket whose accept queue stays full (its process stopped, or
 * too busy to accept) until the reconnect timeout: every try was refused with QueueFull, and the session
 * ended with "it went away and did not come back ... (start `ivsh host` again)", sending the user to start
 * an arbiter where a process is there and does not accept. Through a VM's bridge the same came back later:
 * the bridge answers each resume's hello with its own request id (bridge-queue-full.test.ts), so
 * the client saw no QueueFull and took each try for an arbiter that is gone.
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
  paths = testPaths("resume-queue-full");
  arbiter = await ArbiterProcess.start(paths, { lease: "1000ms" });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

for (const through of ["its socket", "a VM's bridge"] as const)
  testWithTool(
    "python3",
    `a resume through ${through} refused by a full accept queue until its timeout says so, not 'start ivsh host again'`,
    async () => {
      const forward = through === "its socket" ? undefined : fakeGuestfwd("queued-vm", paths.socket);
      const address = forward ? { tcp: `127.0.0.1:${forward.port}` } : { socket: paths.socket };
      const client = await connect({ ...address, region: paths.region, reconnectTimeoutMs: 5000 });
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
        // A link that could not be brought back (ConnectionLost), not "no arbiter there" (ArbiterUnreachable).
        expect(failed?.code).toBe("ConnectionLost");
        expect(outcome).not.toContain("start `ivsh host` again");
        expect(outcome).toContain("it accepts no more connections now");
        if (!forward) expect(outcome).toContain("may be stopped, or overloaded");
      } finally {
        listener.kill();
        await listener.exited;
        await client.close();
        forward?.stop();
        // The next case needs an arbiter to connect to: the one killed above comes back on the same state.
        arbiter = await ArbiterProcess.start(paths, { lease: "1000ms" });
      }
    },
    40_000,
  );
