/**
 * Every message of the ivsh protocol, as data: the codec, the arbiter, the client and the tests all read
 * this one table. docs/protocol.md describes the same table for humans; keep them in step.
 */
import { failure } from "../errors.ts";

export const WIRE_MAGIC = 0x48535649; // "IVSH"
/**
 * 3: hello's reply names the arbiter's random instance number (pids repeat across pid namespaces);
 * 2: hello's reply names the arbiter's pid (version 1 had no way to tell two arbiters' regions apart).
 */
export const PROTOCOL_VERSION = 3;
export const FRAME_HEADER_BYTES = 12;
/** Largest frame either side accepts, header included; a longer length field closes the connection. */
export const MAX_FRAME_BYTES = 1 << 20;
/** Names of segments and synchronisation objects, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 255;
export const WAIT_FOREVER = 0xffffffff;
/** Entries per list in a status reply unless the request says otherwise. */
export const STATUS_DEFAULT_LIMIT = 1000;

/** Frame kinds (byte 6 of the header). */
export const FrameKind = { request: 0, reply: 1, error: 2 } as const;
export type FrameKindValue = (typeof FrameKind)[keyof typeof FrameKind];

/** Field types: little-endian integers, `str` (u16 length + UTF-8), `text` (u32 length + UTF-8). */
export type FieldType = "u8" | "u16" | "u32" | "i32" | "u64" | "str" | "text";
export type Schema = Readonly<Record<string, FieldType>>;
export type Fields<S extends Schema> = {
  -readonly [K in keyof S]: S[K] extends "str" | "text" ? string : number;
};

/**
 * How a segment is held: "read" (any number of readers), "write" (writers share it with readers and each
 * other), "write-exclusive" (one writer, no other writer; readers may still open it).
 */
export type AccessModeName = "read" | "write" | "write-exclusive";
/** The access modes' wire values. */
export const AccessMode = { read: 1, write: 2, "write-exclusive": 3 } as const satisfies Record<
  AccessModeName,
  number
>;

export function accessModeName(value: number): AccessModeName | undefined {
  return (Object.keys(AccessMode) as AccessModeName[]).find((name) => AccessMode[name] === value);
}

/** The wire's number for a mode a caller named; a mode that is none of them is named, with the choices. */
export function accessModeOf(mode: AccessModeName, what: string): number {
  const value = AccessMode[mode];
  if (value === undefined)
    throw failure(
      "InvalidArgument",
      what,
      `'${mode}' is not a mode: use ${Object.keys(AccessMode).join(", ")}`,
    );
  return value;
}

/** `create` field of sync-open. */
export const SyncCreate = { openExisting: 0, openOrCreate: 1, createNew: 2 } as const;

/** `outcome` field of a wait reply. */
export const WaitOutcome = { woken: 0, valueChanged: 1, timedOut: 2 } as const;

const segmentGrant = {
  segmentId: "u32",
  firstBlock: "u32",
  blockCount: "u32",
  bytes: "u64",
  mode: "u8",
  name: "str",
} as const satisfies Schema;

/**
 * How often the arbiter sweeps (expiring silent clients, putting back an overwritten header or slot word):
 * a quarter lease, between 20 ms and 1 s. A client that finds the header overwritten waits a sweep or two.
 */
export function sweepPeriodMs(leaseMs: number): number {
  return Math.max(20, Math.min(1000, leaseMs / 4));
}

export const messages = {
  hello: {
    op: 1,
    request: { magic: "u32", version: "u16", clientName: "str", pid: "u32", sessionToken: "str" },
    reply: {
      clientId: "u32",
      epoch: "u32",
      sessionToken: "str",
      leaseMs: "u32",
      resumed: "u8",
      vm: "str",
      regionSize: "u64",
      blockSize: "u32",
      blockCount: "u32",
      slotCount: "u32",
      dataOffset: "u32",
      /** The arbiter's pid, which it also writes in the region's header: for messages (pids repeat). */
      arbiterPid: "u32",
      /** Random, chosen at the arbiter's start and written in the header too: what the client compares. */
      arbiterInstance: "u64",
    },
  },
  identify: { op: 2, request: { vm: "str" }, reply: {} },
  alloc: {
    op: 3,
    request: { bytes: "u64", blocks: "u32", mode: "u8", name: "str" },
    reply: segmentGrant,
  },
  open: { op: 4, request: { name: "str", mode: "u8" }, reply: segmentGrant },
  free: { op: 5, request: { segmentId: "u32" }, reply: { released: "u8" } },
  syncOpen: {
    op: 6,
    request: { name: "str", kind: "u8", create: "u8" },
    reply: { slot: "u32", generation: "u32", created: "u8" },
  },
  syncClose: { op: 7, request: { slot: "u32" }, reply: {} },
  wait: {
    op: 8,
    request: { slot: "u32", word: "u8", expected: "i32", timeoutMs: "u32" },
    reply: { outcome: "u8" },
  },
  /** `reply` 0: answer only an error. A waker rarely needs the count, and an answer costs it a wake-up. */
  wake: { op: 9, request: { slot: "u32", word: "u8", count: "u32", reply: "u8" }, reply: { woken: "u32" } },
  heartbeat: { op: 10, request: {}, reply: { leaseMs: "u32" } },
  /**
   * `limit`: at most this many entries in each list of the report (0: totals only), so a status costs
   * O(limit) however much the arbiter holds. `onlyClient`: when not 0, the clients list holds that client
   * alone, if it has a session (a cheap "is it still alive?"). An empty body, as clients before these
   * fields send, asks for `STATUS_DEFAULT_LIMIT`.
   */
  status: { op: 11, request: { limit: "u32", onlyClient: "u32" }, reply: { json: "text" } },
  bye: { op: 12, request: {}, reply: {} },
  /**
   * A bridge's only request: "the guest connection I was given is in your hand-over socket under this
   * nonce" (see `handoverDatagram`). The arbiter adopts it as an identified connection of that VM.
   */
  handover: { op: 13, request: { nonce: "str" }, reply: {} },
} as const satisfies Record<string, { op: number; request: Schema; reply: Schema }>;

/**
 * The datagram a bridge sends to the arbiter's hand-over socket (`SOCKET.handover`), with the guest
 * connection's descriptor attached (SCM_RIGHTS): a request frame of op `handover` whose body has this
 * schema. `vm` comes from the bridge's command line, which the host wrote; `nonce` is the bridge's random
 * token, which its `handover` request then names.
 */
export const handoverDatagram = { vm: "str", nonce: "str" } as const satisfies Schema;

/** What a VM name may be (`identify`, a hand-over datagram), in the words refusals use: `isVmName` checks it. */
export const VM_NAME_RULE =
  "1 to 64 letters, digits, '.', '_' or '-', other than 'host' (the name the host's own processes go by)";

/** The VM name of every process that connects to the arbiter directly (hello's reply, `ivsh status`). */
export const HOST_VM = "host";

export function isVmName(vm: string): boolean {
  // Not the host's: a guest under it would count against the host's quota and show as a host process.
  return vm.length > 0 && vm.length <= 64 && /^[\w.-]+$/.test(vm) && vm !== HOST_VM;
}

/**
 * Magic and version are the first six bytes of a hello (u32, u16: the first two fields of its request,
 * which no later version may move): the arbiter checks them before anything else is decoded, so a client of another
 * version is told so even where the rest of its hello differs.
 */
export function checkHelloVersion(body: Uint8Array): void {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  if (body.byteLength < 6 || view.getUint32(0, true) !== WIRE_MAGIC)
    throw failure(
      "VersionMismatch",
      "greet the client",
      "its hello does not start with the ivsh magic (not an ivsh client?)",
    );
  const version = view.getUint16(4, true);
  if (version === PROTOCOL_VERSION) return;
  // An older client shows these words as they are (a newer one rewords them, matching up to "speaks N"):
  // which side to upgrade, not only that the two differ.
  const which =
    version < PROTOCOL_VERSION
      ? "the client runs an older ivsh: upgrade it, or run the arbiter's release on its side"
      : "the client runs a newer ivsh: upgrade the arbiter and restart it, or run the arbiter's release on the client's side";
  throw failure(
    "VersionMismatch",
    "greet the client",
    `it speaks protocol version ${version} and this arbiter speaks ${PROTOCOL_VERSION} (${which})`,
  );
}

export type MessageName = keyof typeof messages;
export type Request<N extends MessageName> = Fields<(typeof messages)[N]["request"]>;
export type Reply<N extends MessageName> = Fields<(typeof messages)[N]["reply"]>;
export type SegmentGrantFields = Fields<typeof segmentGrant>;

export const errorBody = { code: "u16", message: "str" } as const satisfies Schema;

const namesByOp = new Map<number, MessageName>(
  (Object.keys(messages) as MessageName[]).map((name) => [messages[name].op, name]),
);

export function messageNameOf(op: number): MessageName | undefined {
  return namesByOp.get(op);
}

/** Operations that change arbiter state: the journal records them with their reply (see docs/protocol.md). */
export const MUTATING: ReadonlySet<MessageName> = new Set(["alloc", "open", "free", "syncOpen", "syncClose"]);
