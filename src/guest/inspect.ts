/**
 * Asking the arbiter for its status without mapping the region: what `ivsh status` needs, which may run
 * where the region file is not readable. The short session it opens is reported as `self` (0 when the
 * arbiter could not record one and answered without). And greeting whatever listens on a socket, to tell
 * whether it is an arbiter at all.
 */

import { abortedError, isIvshError } from "../errors.ts";
import { PROTOCOL_VERSION, STATUS_DEFAULT_LIMIT, WIRE_MAGIC } from "../protocol/messages.ts";
import type { StatusReport } from "../protocol/status-report.ts";
import { closedAtHello } from "./link-errors.ts";
import { type Endpoint, Transport } from "./transport.ts";

/**
 * For the whole exchange (hello, status, bye): long enough for an arbiter busy with a thousand clients,
 * short enough for a command typed at a prompt.
 */
const STATUS_WAIT_MS = 10_000;

/** `sysfsRoot`: where this process looks for an IVSHMEM device, for the words of a failed connect. */
export async function fetchStatus(
  endpoint: Endpoint,
  limit = STATUS_DEFAULT_LIMIT,
  signal?: AbortSignal,
  waitMs = STATUS_WAIT_MS,
  sysfsRoot?: string,
): Promise<{ report: StatusReport; self: number }> {
  const transport = new Transport(endpoint, sysfsRoot);
  const deadline = performance.now() + waitMs;
  const remaining = () => Math.max(1, deadline - performance.now());
  try {
    const { self, refused } = await greetUnlessRefused(transport, remaining(), signal);
    const asked = transport.requestWithin("status", { limit, onlyClient: 0 }, remaining(), signal);
    // An arbiter older than session-less status refuses it: the hello's refusal is what to report.
    const { json } = await asked.catch((error: unknown) => {
      throw refused ?? error;
    });
    // The report is in hand: a slow goodbye is no failure (closing the connection ends the session too).
    // An interruption is: the caller was asked to stop ("ivsh status" exits 128 + N, as while waiting).
    if (self !== 0)
      await transport.requestWithin("bye", {}, Math.max(remaining(), 1000), signal).catch(() => {
        if (signal?.aborted) throw abortedError(signal, "say goodbye to the arbiter");
      });
    return { report: JSON.parse(json) as StatusReport, self };
  } finally {
    transport.close();
  }
}

/**
 * How the arbiter refuses a hello whose session its state journal cannot record (../host/state-errors.ts),
 * or one past the host's --vm-connections (all its host processes have as many sessions open as that).
 */
const HELLO_REFUSALS = [
  "JournalFull",
  "NoSpace",
  "StateInvalid",
  "SystemCall",
  "PermissionDenied",
  "QuotaExceeded",
] as const;

/**
 * Our session's client id (`self`); 0, with the hello's error as `refused`, if the arbiter could not
 * record a session (its journal's file system full, read-only, or failing: EIO, EFBIG) or would not open
 * one (the host has its --vm-connections): the status is then asked without one, which is when an
 * operator needs it most.
 */
async function greetUnlessRefused(
  transport: Transport,
  waitMs: number,
  signal?: AbortSignal,
): Promise<{ self: number; refused?: unknown }> {
  try {
    return { self: (await greet(transport, "ivsh status", waitMs, signal)).clientId };
  } catch (error) {
    if (!HELLO_REFUSALS.some((code) => isIvshError(error, code)))
      throw closedAtHello(transport.endpoint, error) ?? error;
    transport.release();
    return { self: 0, refused: error };
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

/**
 * Opens the link and says hello (a session that maps nothing), giving up after `waitMs` for both. A guest's
 * TCP connect has the whole wait, as connect()'s: given a fixed 3 s, `ivsh status` in a loaded TCG VM whose
 * SYN went unanswered longer failed though it waits 10 s for its answer.
 */
async function greet(transport: Transport, clientName: string, waitMs: number, signal?: AbortSignal) {
  const deadline = performance.now() + waitMs;
  await transport.open(signal, false, Math.ceil(waitMs)); // said in its error as whole ms
  const hello = await transport.handshake(
    "hello",
    { magic: WIRE_MAGIC, version: PROTOCOL_VERSION, clientName, pid: process.pid, sessionToken: "" },
    Math.max(1, deadline - performance.now()),
    signal,
    waitMs,
  );
  transport.release();
  return hello;
}
