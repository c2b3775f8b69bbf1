/**
 * `ivsh host` on the socket of a running arbiter whose accept queue is full (stopped, or too busy to
 * accept): the socket is the arbiter's own, serving, not "a socket bound there that accepts no connection,
 * another arbiter's hand-over socket most likely".
 */
import { expect } from "bun:test";
import { join } from "node:path";
import { fullQueueOf } from "./helpers/full-queue.ts";
import { runCli } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { testWithTool } from "./helpers/tools.ts";

const suite = sharedArbiter("host-queue-full");

const fullQueue = fullQueueOf(suite);

testWithTool(
  "python3",
  "a second ivsh host on a stopped arbiter's socket with a full queue: told an arbiter serves it",
  async () => {
    await fullQueue.stop();
    const result = await runCli([
      "host",
      "--socket",
      suite.socket,
      "--region",
      join(suite.shmDir, "other-region"),
      "--state",
      join(suite.dir, "other.state"),
      "--size",
      "1MiB",
    ]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).not.toContain("hand-over socket most likely");
    expect(result.stderr).toContain("is serving it, and accepts no more connections now");
  },
  30_000,
);
