/**
 * The arbiter stopped (SIGSTOP) just after a receiver kept the verified stream and gave its verdict: the
 * release of its ring and role then waits for an arbiter that answers nothing, and fails once the client
 * gives it up (ArbiterUnreachable). The transfer was decided without the arbiter (docs/layout.md: the file is
 * in place before the sender is told); a receive that reports failure must not leave FILE under its name.
 */
import { afterEach, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { connect } from "../src/guest/index.ts";
import { receiveStream } from "../src/transfer/run.ts";
import { Sink } from "../src/transfer/sink.ts";
import { livenessBoundMs } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { guest, outPath, randomFile, sameBytes } from "./helpers/transfer.ts";

const LEASE_MS = 1000;
const RECONNECT_MS = 2000;
const suite = sharedArbiter("xreleasestall", { lease: `${LEASE_MS}ms` });
// A test that stops the arbiter lets it run again even if it fails first.
afterEach(() => {
  suite.arbiter.spawned.proc.kill("SIGCONT");
});

test("the arbiter stopped right after the verdict: a receive that reports failure leaves no FILE", async () => {
  const input = outPath(suite.paths, "stall.in");
  const output = outPath(suite.paths, "stall.out");
  const data = await randomFile(input, 300_000);
  const client = await connect({
    socket: suite.socket,
    region: suite.region,
    name: "receiver",
    reconnectTimeoutMs: RECONNECT_MS,
  });
  const sink = Sink.open(output);
  const keep = sink.keep.bind(sink);
  // The verdict needs no arbiter from here on (the lease is not in doubt); its release does.
  sink.keep = () => {
    keep();
    suite.arbiter.spawned.proc.kill("SIGSTOP");
  };
  const sender = guest(suite.paths, ["send", "-q", "--channel", "stall", input]);
  try {
    const outcome = await Promise.race([
      receiveStream(client, "stall", sink).then(
        () => "received",
        (error: Error) => error.message,
      ),
      Bun.sleep(RECONNECT_MS + livenessBoundMs(LEASE_MS)).then(() => "still waiting"),
    ]);
    const kept = existsSync(output) && sameBytes(readFileSync(output), data);
    // Before: 'Failed to hear from the arbiter since it answered nothing ...' with FILE kept and verified.
    expect({ outcome, kept }).toEqual({ outcome: "received", kept: true });
  } finally {
    sender.proc.kill("SIGKILL");
    suite.arbiter.spawned.proc.kill("SIGCONT");
    await client.close().catch(() => {});
  }
}, 60_000);
