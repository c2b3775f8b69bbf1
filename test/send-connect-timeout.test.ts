/**
 * `ivsh guest send --timeout` bounds the greeting too (src/commands/guest-send.ts: connectTimeoutMs): an
 * arbiter that accepts the connection but does not answer (its process stopped) fails the send after the
 * --timeout given, saying so, not after connect()'s own 30 s default.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { guest } from "./helpers/transfer.ts";

const suite = sharedArbiter("send-connect-timeout");

test("guest send --timeout 1s to a stopped arbiter fails saying it did not answer within 1 s", async () => {
  const { proc } = suite.arbiter.spawned;
  proc.kill("SIGSTOP");
  try {
    const sender = guest(suite.paths, [
      "send",
      join(import.meta.dir, "..", "package.json"),
      "--channel",
      "unanswered",
      "--timeout",
      "1s",
    ]);
    expect(await sender.exit(60_000)).toBe(1);
    expect(await sender.stderr).toContain("it accepted the connection but did not answer within 1 s");
  } finally {
    proc.kill("SIGCONT");
  }
}, 90_000);
