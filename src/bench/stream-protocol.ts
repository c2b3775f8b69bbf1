/**
 * What the stream baselines' parent and its worker processes say to each other. The parent starts a
 * receiver and a sender as `<worker command> stream-recv|stream-send --flags`; each prints JSON lines on
 * stdout (`ready` once listening, then one final report) and exits.
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
    };

const ROLES: readonly StreamRole[] = ["stream-send", "stream-recv"];
const TRANSPORTS: readonly StreamTransport[] = ["unix", "tcp"];

export function workerArgv(args: StreamWorkerArgs): string[] {
  const { role, transport, address, bytes, chunk } = args;
  return [role, ...flagArgv({ transport, address, bytes, chunk })];
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

export function encodeEvent(event: WorkerEvent): string {
  return `${JSON.stringify(event)}\n`;
}

export function parseEvent(line: string): WorkerEvent {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw failure("Internal", "read a bench worker's report", `'${line.slice(0, 80)}' is not JSON`);
  }
  const event = (value as { event?: unknown } | null)?.event;
  if (event !== "ready" && event !== "sent" && event !== "received")
    throw failure("Internal", "read a bench worker's report", `'${line.slice(0, 80)}' is no known event`);
  return value as WorkerEvent;
}
