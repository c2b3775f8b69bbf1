/**
 * Asking the arbiter for its status without mapping the region: what `ivsh status` needs, which may run
 * where the region file is not readable. The short session it opens is reported as `self`.
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
  const deadline = Date.now() + waitMs;
  const remaining = () => Math.max(1, deadline - Date.now());
  try {
    await transport.open();
    const hello = await transport.handshake(
      "hello",
      {
        magic: WIRE_MAGIC,
        version: PROTOCOL_VERSION,
        clientName: "ivsh status",
        pid: process.pid,
        sessionToken: "",
      },
      remaining(),
      signal,
    );
    transport.release();
    const { json } = await transport.requestWithin("status", { limit, onlyClient: 0 }, remaining(), signal);
    // The report is in hand: a slow goodbye is no failure (closing the connection ends the session too).
    await transport.requestWithin("bye", {}, Math.max(remaining(), 1000), signal).catch(() => undefined);
    return { report: JSON.parse(json) as StatusReport, self: hello.clientId };
  } finally {
    transport.close();
  }
}
