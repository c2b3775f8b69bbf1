/**
 * What the stream baselines' workers (stream-worker.ts) are given, and the pattern they stream: the
 * receiver says `ready` with the address it listens on, then `received`; the sender says `sent`.
 *
 * The sender repeats one in-memory pattern chunk, so the byte at stream offset `o` is
 * `patternByte(o % chunk)`. The receiver checks the first and last byte of every piece it gets against
 * that: cheap enough not to slow it, and it catches lost, duplicated or reordered data.
 */
import { failure } from "../errors.ts";
import type { WorkerFlags } from "./worker-io.ts";

export type StreamTransport = "unix" | "tcp";

export interface StreamArgs {
  readonly transport: StreamTransport;
  /** A socket path for unix; `host:port` for tcp (port 0 lets the receiver pick one). */
  readonly address: string;
  readonly bytes: number;
  /** Size of one write for the sender, and the pattern period both sides agree on. */
  readonly chunk: number;
  /**
   * Sender: stream this file's bytes instead of the pattern (the demo's yardstick, a copy as a program
   * without ivsh makes it). Receiver: the stream is a file's, so report its CRC-32 instead of checking
   * the pattern.
   */
  readonly file?: string;
}

export interface StreamTransfer {
  /** Every transfer delivers exactly the bytes asked for, or fails. */
  readonly bytes: number;
  readonly seconds: number;
  /** Data callbacks (or socat reads) the receiver got: bytes / reads is its effective read size. */
  readonly reads: number;
}

/** A stream worker's flags, with the transport checked. */
export function streamArgs(flags: WorkerFlags): StreamArgs {
  const transport = flags.string("transport");
  if (transport !== "unix" && transport !== "tcp")
    throw failure("InvalidArgument", "start a bench worker", `--transport '${transport}' is not unix or tcp`);
  const [address, file] = [flags.string("address"), flags.optional("file")];
  const sizes = { bytes: flags.size("bytes"), chunk: flags.size("chunk") };
  return { transport, address, ...sizes, ...(file === undefined ? {} : { file }) };
}

/** A byte that depends on all bits of its position, so any shift of the stream changes it. */
export function patternByte(position: number): number {
  return Math.imul(position ^ (position >>> 16), 0x9e3779b1) >>> 24;
}

export function patternChunk(size: number): Uint8Array {
  const chunk = new Uint8Array(size);
  for (let position = 0; position < size; position++) chunk[position] = patternByte(position);
  return chunk;
}

/** Checks a received piece that starts at stream offset `offset`; returns a reason when it is wrong. */
export function checkPiece(piece: Uint8Array, offset: number, chunk: number): string | undefined {
  if (piece.byteLength === 0) return undefined;
  const lastOffset = offset + piece.byteLength - 1;
  if (piece[0] !== patternByte(offset % chunk)) return `byte ${offset} is not the one sent there`;
  if (piece[piece.byteLength - 1] !== patternByte(lastOffset % chunk))
    return `byte ${lastOffset} is not the one sent there`;
  return undefined;
}
