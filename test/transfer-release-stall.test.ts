/**
 * The arbiter stopped (SIGSTOP) just after a receiver kept the verified stream and gave its verdict: the
 * release of its ring and role then waits for an arbiter that answers nothing, and fails once the client
 * gives it up (ArbiterUnreachable). The transfer was decided without the arbiter (docs/layout.md: the file is
 * in place before the sender is told); a receive that reports failure must not leave FILE under its name.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { connect } from "../src/guest/index.ts";
import { receiveStream } from "../src/transfer/run.ts";
import { Sink } from "../src/transfer/sink.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, livenessBoundMs } from "./helpers/processes.ts";
import { guest, outPath, randomFile, sameBytes } from "./helpers/transfer.ts";

const LEASE_MS = 1000;
const RECONNECT_MS = 2000;
let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("xreleasestall");
  arbiter = await ArbiterProcess.start(paths, { lease: `${LEASE_MS}ms` });
});
afterEach(() => {
  arbiter.spawned.proc.kill("SIGCONT");
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("the arbiter stopped right after the verdict: a receive that reports failure leaves no FILE", async () => {
  const input = outPath(paths, "stall.in");
  const output = outPath(paths, "stall.out");
  const data = await randomFile(input, 300_000);
  const client = await connect({
    socket: paths.socket,
    region: paths.region,
    name: "receiver",
    reconnectTimeoutMs: RECONNECT_MS,
  });
  const sink = Sink.open(output);
  const keep = sink.keep.bind(sink);
  // The verdict needs no arbiter from here on (the lease is not in doubt); its release does.
  sink.keep = () => {
    keep();
    arbiter.spawned.proc.kill("SIGSTOP");
  };
  const sender = guest(paths, ["send", "-q", "--channel", "stall", input]);
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
    arbiter.spawned.proc.kill("SIGCONT");
    await client.close().catch(() => {});
  }
}, 60_000);
