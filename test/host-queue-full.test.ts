/**
 * `ivsh host` on the socket of a running arbiter whose accept queue is full (stopped, or too busy to
 * accept): the socket is the arbiter's own, serving, not "a socket bound there that accepts no connection,
 * another arbiter's hand-over socket most likely".
 */
import { afterEach, expect } from "bun:test";
import { join } from "node:path";
import { fetchStatus } from "../src/guest/inspect.ts";
import { fillAcceptQueue } from "./helpers/full-queue.ts";
import { EventStream, eventually, runCli } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { testWithTool } from "./helpers/tools.ts";

const suite = sharedArbiter("host-queue-full");

let filler: ReturnType<typeof fillAcceptQueue> | undefined;
afterEach(async () => {
  filler?.kill();
  await filler?.exited;
  filler = undefined;
  suite.arbiter.spawned.proc.kill("SIGCONT");
  const answers = () =>
    fetchStatus({ unix: suite.socket }).then(
      () => true,
      () => false,
    );
  await eventually(answers, 20_000, "the arbiter answering again");
});

testWithTool(
  "python3",
  "a second ivsh host on a stopped arbiter's socket with a full queue: told an arbiter serves it",
  async () => {
    suite.arbiter.spawned.proc.kill("SIGSTOP");
    filler = fillAcceptQueue(suite.socket);
    const { held } = await new EventStream(filler.stdout).next("full");
    expect(held).toBeGreaterThan(0);
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
