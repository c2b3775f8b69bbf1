/**
 * What the stream baselines' parent and its worker processes say to each other. The parent starts a
 * receiver and a sender as `<worker command> stream-recv|stream-send --flags`; each prints its events
 * as every worker does (worker-io.ts: `ready` once listening, then one final report) and exits.
 *
 * The sender repeats one in-memory pattern chunk, so the byte at stream offset `o` is
 * `patternByte(o % chunk)`. The receiver checks the first and last byte of every piece it gets against
 * that: cheap enough not to slow it, and it catches lost, duplicated or reordered data.
 */
import { failure } from "../errors.ts";
import { flagArgv, WorkerFlags } from "./worker-io.ts";

export type StreamTransport = "unix" | "tcp";
export type StreamRole = "stream-send" | "stream-recv";

export interface StreamWorkerArgs {
  readonly role: StreamRole;
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

export type WorkerEvent =
  | { readonly event: "ready"; readonly address: string }
  | { readonly event: "sent"; readonly bytes: number; readonly seconds: number }
  | {
      readonly event: "received";
      readonly bytes: number;
      /** From the connection being accepted to the end of the stream, on the receiver's clock. */
      readonly seconds: number;
      /** How many data callbacks delivered the bytes: bytes / pieces is the effective read size. */
      readonly pieces: number;
      /** For a file's stream (`file`): its CRC-32, which chunk boundaries do not change. */
      readonly crc32?: number;
    };

const ROLES: readonly StreamRole[] = ["stream-send", "stream-recv"];
const TRANSPORTS: readonly StreamTransport[] = ["unix", "tcp"];

export function workerArgv(args: StreamWorkerArgs): string[] {
  const { role, transport, address, bytes, chunk, file } = args;
  return [role, ...flagArgv({ transport, address, bytes, chunk, file })];
}

/** A stream worker's argv, read with the same `WorkerFlags` as every other bench worker's. */
export function parseWorkerArgv(argv: readonly string[]): StreamWorkerArgs {
  const [role, ...rest] = argv;
  if (!ROLES.includes(role as StreamRole))
    throw failure(
      "InvalidArgument",
      "start a bench worker",
      `'${role ?? ""}' is not one of ${ROLES.join(", ")}`,
    );
  const flags = new WorkerFlags(role as StreamRole, rest);
  const transport = flags.string("transport");
  if (!TRANSPORTS.includes(transport as StreamTransport))
    throw failure("InvalidArgument", "start a bench worker", `--transport '${transport}' is not unix or tcp`);
  return {
    role: role as StreamRole,
    transport: transport as StreamTransport,
    address: flags.string("address"),
    bytes: flags.size("bytes"),
    chunk: flags.size("chunk"),
    ...(flags.optional("file") === undefined ? {} : { file: flags.string("file") }),
  };
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
