/**
 * Asking the arbiter for its status without mapping the region: what `ivsh status` needs, which may run
 * where the region file is not readable. The short session it opens is reported as `self`. And greeting
 * whatever listens on a socket, to tell whether it is an arbiter at all.
 */

import { PROTOCOL_VERSION, STATUS_DEFAULT_LIMIT, WIRE_MAGIC } from "../protocol/messages.ts";
import type { StatusReport } from "../protocol/status-report.ts";
import { type Endpoint, Transport } from "./transport.ts";

/**
 * For the whole exchange (hello, status, bye): long enough for an arbiter busy with a thousand clients,
 * short enough for a command typed at a prompt.
 */
const STATUS_WAIT_MS = 10_000;

export async function fetchStatus(
  endpoint: Endpoint,
  limit = STATUS_DEFAULT_LIMIT,
  signal?: AbortSignal,
  waitMs = STATUS_WAIT_MS,
): Promise<{ report: StatusReport; self: number }> {
  const transport = new Transport(endpoint);
  const deadline = performance.now() + waitMs;
  const remaining = () => Math.max(1, deadline - performance.now());
  try {
    const hello = await greet(transport, "ivsh status", remaining(), signal);
    const { json } = await transport.requestWithin("status", { limit, onlyClient: 0 }, remaining(), signal);
    // The report is in hand: a slow goodbye is no failure (closing the connection ends the session too).
    await transport.requestWithin("bye", {}, Math.max(remaining(), 1000), signal).catch(() => undefined);
    return { report: JSON.parse(json) as StatusReport, self: hello.clientId };
  } finally {
    transport.close();
  }
}

/**
 * Says hello to whatever listens at `endpoint` and leaves at once: its hello reply if an ivsh arbiter
 * answered; else the client's own error for what answered instead (a PeerNotArbiter for a peer that
 * speaks another protocol, ArbiterUnreachable for one silent for `waitMs`, ConnectionLost for one that
 * hung up). For `ivsh host`, which must know what holds the socket path it was given.
 */
export async function greetArbiter(endpoint: Endpoint, clientName: string, waitMs: number) {
  const transport = new Transport(endpoint);
  try {
    const hello = await greet(transport, clientName, waitMs);
    await transport.requestWithin("bye", {}, waitMs).catch(() => undefined);
    return hello;
  } finally {
    transport.close();
  }
}

/** Opens the link and says hello (a session that maps nothing), giving up after `waitMs`. */
async function greet(transport: Transport, clientName: string, waitMs: number, signal?: AbortSignal) {
  await transport.open();
  const hello = await transport.handshake(
    "hello",
    { magic: WIRE_MAGIC, version: PROTOCOL_VERSION, clientName, pid: process.pid, sessionToken: "" },
    waitMs,
    signal,
  );
  transport.release();
  return hello;
}
