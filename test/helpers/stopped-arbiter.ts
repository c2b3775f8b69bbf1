/**
 * An arbiter stopped (SIGSTOP, a frozen host) rather than dead, for a transfer's end in this process: its
 * connection stays open and greeted, its requests go unanswered, and only the lease's rules (the client's
 * leaseInDoubt after half a lease of silence, src/transfer/release-end.ts's give-up a lease later) tell
 * it from an arbiter that is merely slow. The end's client reconnects for far longer than any test waits,
 * so what ends a wait is those rules, not the client giving up on a silent arbiter.
 */
import { connect } from "../../src/guest/index.ts";
import { Source } from "../../src/transfer/io.ts";
import { sendStream, type TransferResult } from "../../src/transfer/run.ts";
import { stopSweeps } from "./hello-relay.ts";
import type { ArbiterProcess } from "./processes.ts";
import type { SharedArbiter } from "./shared-arbiter.ts";
import { outPath, randomFile } from "./transfer.ts";

/** Longer than any test here runs: the client's own give-up on a silent arbiter never ends a wait. */
export const RECONNECT_MS = 120_000;

/** The arbiter, stopped until `resume()` (once; later calls, or one after it died, do nothing). */
export function stopArbiter(arbiter: ArbiterProcess): { resume(): void } {
  const { pid } = arbiter;
  stopSweeps(pid); // returns once the kernel says it is stopped (state T), so nothing it does comes after
  let stopped = true;
  return {
    resume() {
      if (!stopped) return;
      stopped = false;
      try {
        process.kill(pid, "SIGCONT");
      } catch {} // gone already
    },
  };
}

/** How a transfer ended: its bytes, or its error's code and message; `settled` once it has. */
export interface Watched {
  readonly outcome: Promise<{ bytes?: number; code?: string; message?: string }>;
  settled: boolean;
}

export function watched(transfer: Promise<TransferResult>): Watched {
  const watch: Watched = {
    outcome: transfer.then(
      (result) => ({ bytes: result.bytes }),
      (error: { code?: string; message?: string }) => ({ code: error.code, message: error.message }),
    ),
    settled: false,
  };
  void watch.outcome.then(() => {
    watch.settled = true;
  });
  return watch;
}

/**
 * `sendStream` of a small file on `channel` in this process, with `signal`, resolved once it waits for a
 * receiver (its ring published, so its release has requests to make); `close` closes its client without
 * waiting.
 */
export async function sendAwaitingReceiver(suite: SharedArbiter, channel: string, signal: AbortSignal) {
  const input = outPath(suite.paths, `${channel}.in`);
  await randomFile(input, 64 << 10);
  const client = await connect({
    socket: suite.socket,
    region: suite.region,
    name: `sender-${channel}`,
    reconnectTimeoutMs: RECONNECT_MS,
  });
  const source = Source.open(input);
  const waiting = Promise.withResolvers<void>();
  const send = watched(
    sendStream(
      client,
      channel,
      source,
      { signal },
      { waiting: (_, forPeer) => forPeer && waiting.resolve() },
    ),
  );
  await Promise.race([waiting.promise, send.outcome]);
  return {
    client,
    send,
    async close() {
      source.close();
      await client.close({ waitForArbiter: false });
    },
  };
}
