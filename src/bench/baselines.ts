/**
 * Fig. 3b's comparison points: N bytes streamed between two separate processes over a Unix socket
 * (Bun sockets, and socat with 1 MiB buffers) and over TCP loopback (Bun sockets).
 *
 * Every transfer is timed by its receiver, from accepting the connection to the end of the stream, and
 * counts only bytes it actually received; a transfer whose count differs from N fails rather than
 * reporting a rate. The sender holds one 1 MiB chunk and honours backpressure (see worker.ts); its peak
 * RSS is reported as evidence that it did not buffer the stream.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { failure } from "../errors.ts";
import { type Child, startChild, withChildren } from "./child.ts";
import { MiB, requirePositiveInteger } from "./memory.ts";
import { socatInstalled, socatTransfer } from "./socat.ts";
import { type Summary, summarizeRates } from "./stats.ts";
import {
  type StreamRole,
  type StreamTransport,
  type StreamWorkerArgs,
  workerArgv,
} from "./stream-protocol.ts";
import { type Event, finalEvents, nextEvent, numberField, stringField } from "./worker-io.ts";

export type StreamBaseline = "unix-bun" | "unix-socat" | "tcp-bun";

export const STREAM_BASELINES: readonly StreamBaseline[] = ["unix-bun", "unix-socat", "tcp-bun"];

export const STREAM_LABELS: Record<StreamBaseline, string> = {
  "unix-bun": "Unix socket (Bun)",
  "unix-socat": "Unix socket (socat -b 1MiB)",
  "tcp-bun": "TCP loopback (Bun)",
};

export interface StreamOptions {
  /** Bytes per transfer. */
  readonly bytes: number;
  /**
   * argv prefix that starts a bench worker, to which `stream-recv ...` is appended: in ivsh,
   * `[...selfCommand(), "bench-worker"]`; from source, `sourceWorkerCommand()`.
   */
  readonly workerCommand: readonly string[];
  /** Write size of the senders and socat's buffer size. */
  readonly chunk?: number;
  readonly repeats?: number;
  /** Limit for one transfer, after which its processes are killed. */
  readonly timeoutMs?: number;
  /** The socat to run: a name looked up on PATH (the default, "socat") or a path. */
  readonly socatCommand?: string;
}

export interface StreamMeasurement {
  readonly baseline: StreamBaseline;
  readonly label: string;
  /** Bytes per transfer; every transfer delivered exactly this many. */
  readonly bytes: number;
  /** Bytes/s over the repeats; absent when the baseline could not run. */
  readonly rate?: Summary;
  readonly seconds: readonly number[];
  /** Why there is no rate, e.g. "socat not installed". */
  readonly unavailable?: string;
  /**
   * Largest peak RSS of a sender process: an upper bound, since Linux carries over the peak of the process
   * image the child was forked from (the benchmark's own), but far below the stream size when backpressure
   * works.
   */
  readonly senderMaxRssBytes?: number;
  /** Bytes per read the receiver actually got (its read size is the runtime's or kernel's choice). */
  readonly averageReadBytes?: number;
}

interface Transfer {
  readonly bytes: number;
  readonly seconds: number;
  readonly reads: number;
  readonly senderMaxRssBytes: number | undefined;
}

const DEFAULT_CHUNK = 1 * MiB;
const DEFAULT_REPEATS = 3;

/** Starts workers from this source tree (`ivsh bench-worker` through src/cli.ts): for tests. */
export function sourceWorkerCommand(): string[] {
  return [process.execPath, fileURLToPath(new URL("../cli.ts", import.meta.url)), "bench-worker"];
}

/** Everything one transfer needs, fixed for all repeats of a baseline. */
interface Plan {
  readonly baseline: StreamBaseline;
  readonly bytes: number;
  readonly chunk: number;
  readonly workerCommand: readonly string[];
  readonly socat: string;
  readonly timeoutMs: number;
}

export async function measureStream(
  baseline: StreamBaseline,
  options: StreamOptions,
): Promise<StreamMeasurement> {
  const { bytes, workerCommand } = options;
  const chunk = options.chunk ?? DEFAULT_CHUNK;
  const repeats = options.repeats ?? DEFAULT_REPEATS;
  requirePositiveInteger(bytes, "measure a stream", "byte count");
  requirePositiveInteger(chunk, "measure a stream", "chunk size");
  requirePositiveInteger(repeats, "measure a stream", "repeat count");
  const label = STREAM_LABELS[baseline];
  const socat = options.socatCommand ?? "socat";
  if (baseline === "unix-socat" && !socatInstalled(socat))
    return { baseline, label, bytes, seconds: [], unavailable: "socat not installed" };
  // Generous: even 50 MB/s finishes well inside it, so only a hang hits it.
  const timeoutMs = options.timeoutMs ?? 30_000 + bytes / 50e3;
  const plan: Plan = { baseline, bytes, chunk, workerCommand, socat, timeoutMs };
  const transfers: Transfer[] = [];
  for (let run = 0; run < repeats; run++) transfers.push(await transferInTempDir(plan));
  const seconds = transfers.map((transfer) => transfer.seconds);
  const reads = transfers.reduce((sum, transfer) => sum + transfer.reads, 0);
  return {
    baseline,
    label,
    bytes,
    rate: summarizeRates(bytes, seconds),
    seconds,
    senderMaxRssBytes: Math.max(...transfers.map((transfer) => transfer.senderMaxRssBytes ?? 0)),
    averageReadBytes: (bytes * repeats) / reads,
  };
}

async function transferInTempDir(plan: Plan): Promise<Transfer> {
  const dir = mkdtempSync(join(tmpdir(), "ivsh-bench-"));
  const action = `stream ${plan.bytes} bytes (${plan.baseline})`;
  try {
    const transfer = await withChildren(action, plan.timeoutMs, (children) =>
      plan.baseline === "unix-socat"
        ? socatTransfer(plan.socat, plan.bytes, plan.chunk, dir, children)
        : bunTransfer(plan, dir, children),
    );
    if (transfer.bytes !== plan.bytes) throw failure("Internal", action, `${transfer.bytes} bytes arrived`);
    return transfer;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function bunTransfer(plan: Plan, dir: string, children: Child[]): Promise<Transfer> {
  const transport: StreamTransport = plan.baseline === "tcp-bun" ? "tcp" : "unix";
  const address = transport === "unix" ? join(dir, "stream.sock") : "127.0.0.1:0";
  const stream = { transport, address, bytes: plan.bytes, chunk: plan.chunk };
  const { received, sender } = await streamBetweenWorkers(plan.workerCommand, stream, children);
  return {
    bytes: numberField(received, "bytes"),
    seconds: numberField(received, "seconds"),
    reads: numberField(received, "pieces"),
    senderMaxRssBytes: sender.maxRssBytes(),
  };
}

/**
 * One stream from a stream-send to a stream-recv worker (stream-protocol.ts): the receiver listens on
 * `stream.address`, the sender connects where the receiver says it listens. Resolves with the receiver's
 * report once both have exited, refusing a stream whose two ends counted different bytes.
 */
export async function streamBetweenWorkers(
  workerCommand: readonly string[],
  stream: Omit<StreamWorkerArgs, "role">,
  children: Child[] = [],
): Promise<{ received: Event; sender: Child }> {
  const start = (role: StreamRole, address: string, label: string) =>
    startChild(children, [...workerCommand, ...workerArgv({ ...stream, role, address })], label);
  const receiver = start("stream-recv", stream.address, "stream receiver");
  const address = stringField(await nextEvent(receiver, "ready"), "address");
  const sender = start("stream-send", address, "stream sender");
  const [sent, received] = await finalEvents([sender, "sent"], [receiver, "received"]);
  const [sentBytes, receivedBytes] = [numberField(sent, "bytes"), numberField(received, "bytes")];
  if (sentBytes !== receivedBytes)
    throw failure(
      "Internal",
      `stream over ${stream.transport}`,
      `${sentBytes} bytes were sent but ${receivedBytes} received`,
    );
  return { received, sender };
}
