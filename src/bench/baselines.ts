/**
 * Fig. 3b's comparison points: N bytes streamed between two separate processes over a Unix socket
 * (Bun sockets, and socat with 1 MiB buffers) and over TCP loopback (Bun sockets).
 *
 * Every transfer is timed by its receiver, from accepting the connection to the end of the stream, and
 * counts only bytes it actually received; a transfer whose count differs from N fails rather than
 * reporting a rate. The sender holds one 1 MiB chunk and honours backpressure (see stream-worker.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { failure } from "../errors.ts";
import { type Child, withChildren } from "./child.ts";
import { MiB, requirePositiveInteger } from "./memory.ts";
import { socatInstalled, socatTransfer } from "./socat.ts";
import type { StreamArgs, StreamTransfer, StreamTransport } from "./stream-protocol.ts";
import { type Event, finalEvents, nextEvent, numberField, startWorker, stringField } from "./worker-io.ts";

export type StreamBaseline = "unix-bun" | "unix-socat" | "tcp-bun";

export const STREAM_BASELINES: readonly StreamBaseline[] = ["unix-bun", "unix-socat", "tcp-bun"];

export const STREAM_LABELS: Record<StreamBaseline, string> = {
  "unix-bun": "Unix socket (Bun)",
  "unix-socat": "Unix socket (socat -b 1MiB)",
  "tcp-bun": "TCP loopback (Bun)",
};

export interface StreamOptions {
  readonly bytes: number;
  /**
   * argv prefix that starts a bench worker, to which `stream-recv ...` is appended: in ivsh,
   * `[...selfCommand(), "bench-worker"]`; from source, `sourceWorkerCommand()`.
   */
  readonly workerCommand: readonly string[];
  /** Write size of the senders and socat's buffer size. */
  readonly chunk?: number;
  /** Limit for the transfer, after which its processes are killed. */
  readonly timeoutMs?: number;
  /** The socat to run: a name looked up on PATH (the default, "socat") or a path. */
  readonly socatCommand?: string;
}

/** One transfer, or why there is none ("socat not installed"). */
export type StreamMeasurement = StreamTransfer | { readonly unavailable: string };

/** Starts workers from this source tree (`ivsh bench-worker` through src/cli.ts): for tests. */
export function sourceWorkerCommand(): string[] {
  return [process.execPath, fileURLToPath(new URL("../cli.ts", import.meta.url)), "bench-worker"];
}

export async function measureStream(
  baseline: StreamBaseline,
  options: StreamOptions,
): Promise<StreamMeasurement> {
  const { bytes } = options;
  const chunk = options.chunk ?? 1 * MiB;
  requirePositiveInteger(bytes, "measure a stream", "byte count");
  requirePositiveInteger(chunk, "measure a stream", "chunk size");
  const socat = options.socatCommand ?? "socat";
  if (baseline === "unix-socat" && !socatInstalled(socat)) return { unavailable: "socat not installed" };
  // Generous: even 50 MB/s finishes well inside it, so only a hang hits it.
  const timeoutMs = options.timeoutMs ?? 30_000 + bytes / 50e3;
  const dir = mkdtempSync(join(tmpdir(), "ivsh-bench-"));
  const action = `stream ${bytes} bytes (${baseline})`;
  try {
    const transfer = await withChildren(action, timeoutMs, (children) =>
      baseline === "unix-socat"
        ? socatTransfer(socat, bytes, chunk, dir, children)
        : bunTransfer(baseline, options.workerCommand, { bytes, chunk }, dir, children),
    );
    if (transfer.bytes !== bytes) throw failure("Internal", action, `${transfer.bytes} bytes arrived`);
    return transfer;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function bunTransfer(
  baseline: StreamBaseline,
  workerCommand: readonly string[],
  sizes: { bytes: number; chunk: number },
  dir: string,
  children: Child[],
): Promise<StreamTransfer> {
  const transport: StreamTransport = baseline === "tcp-bun" ? "tcp" : "unix";
  const address = transport === "unix" ? join(dir, "stream.sock") : "127.0.0.1:0";
  const { received } = await streamBetweenWorkers(workerCommand, { transport, address, ...sizes }, children);
  return {
    bytes: numberField(received, "bytes"),
    seconds: numberField(received, "seconds"),
    reads: numberField(received, "pieces"),
  };
}

/**
 * One stream from a stream-send to a stream-recv worker (stream-protocol.ts): the receiver listens on
 * `stream.address`, the sender connects where the receiver says it listens. Resolves with the receiver's
 * report once both have exited, refusing a stream whose two ends counted different bytes.
 */
export async function streamBetweenWorkers(
  workerCommand: readonly string[],
  stream: StreamArgs,
  children: Child[] = [],
): Promise<{ received: Event }> {
  const start = (role: string, address: string, label: string) =>
    startWorker(children, workerCommand, role, { ...stream, address }, label);
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
  return { received };
}
