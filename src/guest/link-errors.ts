/**
 * What a client tells when the arbiter's address leads nowhere: nothing listening, a file that is not a
 * socket, or a peer that speaks another protocol. Words for the errno, and for the peer's first bytes.
 */
import { statSync } from "node:fs";
import { groupName, userName } from "../accounts.ts";
import { IvshError, isIvshError, libraryForm, shownName } from "../errors.ts";
import { probeStreamSocket } from "../ffi/fd-passing.ts";
import { errnoOf } from "../ffi/index.ts";
import { decodeError, type Frame, type FrameDecoder } from "../protocol/codec.ts";
import { FRAME_HEADER_BYTES, FrameKind } from "../protocol/messages.ts";
import { SlotKind } from "../region/layout.ts";
import { plural } from "../units.ts";
import { tcpHint } from "./bridge-hint.ts";
import { socketMissingHint } from "./missing-socket.ts";
import { noSocketMade } from "./no-socket.ts";
import { SOCKET_PATH_MAX_BYTES } from "./socket-name.ts";

export type Endpoint = { unix: string } | { hostname: string; port: number };

export function describeEndpoint(endpoint: Endpoint): string {
  return "unix" in endpoint ? endpoint.unix : `${endpoint.hostname}:${endpoint.port}`;
}

/**
 * Through a VM's guestfwd QEMU itself accepts every connection, so a host command that cannot run, or dies
 * at once, shows in the guest only as the connection closing during hello: say where to look, for a command
 * that greets once (`ivsh status`); `connect()` retries first, and says so itself. On a Unix socket: what
 * listens is no arbiter, or one stopping.
 */
export function closedAtHello(endpoint: Endpoint, error: unknown): IvshError | undefined {
  if (!isIvshError(error, "ConnectionLost")) return undefined;
  if ("unix" in endpoint)
    return new IvshError(
      "ConnectionLost",
      `Failed to greet the arbiter at ${endpoint.unix} since the connection closed before anything answered: ` +
        `${UNIX_CLOSED_HINT}; or the arbiter was stopping or restarting: try again`,
      { cause: error },
    );
  return new IvshError(
    "ConnectionLost",
    `Failed to greet the arbiter at ${describeEndpoint(endpoint)} since the connection closed before anything ` +
      "answered: the host's command behind the VM's guestfwd (`ivsh bridge --vm NAME --socket SOCKET`) fails to " +
      "run or dies at once, and its stderr on the host says why (scripts/qemu/launch.sh in ivsh's source repository shows it as [bridge NAME] " +
      "lines); or the arbiter was restarting: try again",
    { cause: error },
  );
}

/** What listens on a Unix socket that hangs up on a hello: no arbiter, or one going away. */
export const UNIX_CLOSED_HINT = `what listens there is not an ivsh arbiter (check --socket${libraryForm(", or connect({ socket })")})`;

/** `sysfsRoot`: where this process looks for an IVSHMEM device (undefined: it does not, as the bridge). */
export function unreachable(endpoint: Endpoint, cause: unknown, sysfsRoot?: string): IvshError {
  const { why, hint, queueFull, noSocket } = linkTrouble(endpoint, cause, sysfsRoot);
  const message = `Failed to connect to the arbiter at ${describeEndpoint(endpoint)} since ${why} (${hint})`;
  if (queueFull) return new QueueFull(message, { cause });
  return noSocket
    ? new NoSocketMade(message, { cause })
    : new IvshError("ArbiterUnreachable", message, { cause });
}

/**
 * A connect refused, its words not built yet: for a try the caller retries whatever the refusal is (a
 * resume, a connect() once the arbiter was seen restarting). The words cost a probe socket or two and a stat
 * (linkTrouble): per try, 1 000 clients retrying a restarting arbiter 4 times a second took with them the
 * CPU the arbiter needed. The refusal the caller tells is `worded()` then, once.
 */
export class RefusalUnworded extends IvshError {
  constructor(
    private readonly endpoint: Endpoint,
    cause: unknown,
    private readonly sysfsRoot: string | undefined,
  ) {
    super("ArbiterUnreachable", `Failed to connect to the arbiter at ${describeEndpoint(endpoint)}`, {
      cause,
    });
  }

  worded(): IvshError {
    return unreachable(this.endpoint, this.cause, this.sysfsRoot);
  }
}

/** `error`, or the refusal it stands for, in words (RefusalUnworded). */
export function worded<T>(error: T): T | IvshError {
  return error instanceof RefusalUnworded ? error.worded() : error;
}

/** No socket could be made to reach the arbiter (EMFILE, ENFILE): this process's lack, not the arbiter's. */
export class NoSocketMade extends IvshError {
  constructor(message: string, options: ErrorOptions) {
    super("ArbiterUnreachable", message, options);
  }
}

/** An arbiter whose queue of connections waiting to be accepted is full: there, but stopped or busy. */
export class QueueFull extends IvshError {
  constructor(message: string, options: ErrorOptions) {
    super("ArbiterUnreachable", message, options);
  }
}

/**
 * What every call of a client gets once its close() ended the link (ConnectionLost, so releasing what it
 * held stays harmless). A class of its own: a lock() or wait() after close() names itself instead
 * (park-named.ts), but only for this failure; a session lost before the close (an arbiter that did not come
 * back: ConnectionLost too) is told as it is.
 */
export class ClientClosed extends IvshError {
  constructor(action: string) {
    super("ConnectionLost", `Failed to ${action} since this client was closed (connect() again to go on)`);
  }

  /**
   * What a request after close() gets: `lost`, unless that is the close's own ClientClosed, then one naming
   * the call and what it was for (the close's "get an answer from the arbiter" named neither: trial 36).
   */
  static for(lost: IvshError, request: string, fields: unknown): IvshError {
    if (!(lost instanceof ClientClosed)) return lost;
    const { name, kind } = fields as { name?: unknown; kind?: unknown };
    const quoted = typeof name === "string" && name !== "" ? ` '${shownName(name)}'` : undefined;
    const slotKind = Object.entries(SlotKind).find(([, value]) => value === kind)?.[0] ?? "mutex or condvar";
    if (request === "alloc") return new ClientClosed(`allocate ${quoted ? `segment${quoted}` : "a segment"}`);
    if (request === "open") return new ClientClosed(`open segment${quoted ?? ""}`);
    if (request === "syncOpen") return new ClientClosed(`open ${slotKind}${quoted ?? ""}`);
    if (request === "status") return new ClientClosed("ask the arbiter for its status");
    return lost;
  }
}

/** A VM's bridge's answer to the hello: it could not reach the arbiter (none there, barred, or full). */
export class BridgeRefusal extends IvshError {
  constructor(message: string) {
    super("ArbiterUnreachable", message, {});
  }
}

/**
 * An error frame as the client takes it. An `ArbiterUnreachable` comes only from a VM's bridge (the arbiter
 * never sends that code); unasked (request id 0), only when the arbiter's accept queue is full
 * (docs/protocol.md section 12): a QueueFull, waited for as a full queue of our own is. Asked, a
 * BridgeRefusal (a resume's hello gets its own id whatever the reason, for clients from before id 0).
 */
export function wireError(frame: Frame): IvshError {
  const error = decodeError(frame.body);
  if (!isIvshError(error, "ArbiterUnreachable")) return error;
  return frame.requestId === 0 ? new QueueFull(error.message, {}) : new BridgeRefusal(error.message);
}

/**
 * The kernel refuses a Unix connection with EAGAIN when the listener's accept queue is full (its process
 * stopped, or too busy to accept), and Bun reports that as ECONNREFUSED, which read "nothing listens, start
 * `ivsh host`". A connect of our own, non-blocking, gets the kernel's own errno: EAGAIN for a full queue.
 * (A datagram probe's EPROTOTYPE did not tell it from a stream socket bound that nothing listens on.) One
 * that got in finds the queue drained since: as full a moment ago, retried.
 */
function queueIsFull(path: string, code: string): boolean {
  if (code !== "ECONNREFUSED") return false;
  try {
    return ["EAGAIN", "accepted"].includes(probeStreamSocket(path));
  } catch {
    return false;
  }
}

/**
 * Why connecting to `endpoint` failed with `cause`, and what to do, in words: shared with the host's
 * bridge, which meets the same socket from QEMU's side. `sysfsRoot`: where a client looks for its device.
 */
export function linkTrouble(
  endpoint: Endpoint,
  cause: unknown,
  sysfsRoot?: string,
): {
  why: string;
  hint: string;
  barred: boolean;
  notSocket: boolean;
  queueFull?: boolean;
  noSocket?: boolean;
} {
  const code = errnoOf(cause);
  const exhausted = noSocketMade("unix" in endpoint ? endpoint.unix : undefined, code);
  if (exhausted) return { ...exhausted, barred: false, notSocket: false, noSocket: true };
  if ("unix" in endpoint && queueIsFull(endpoint.unix, code)) {
    const why = "it accepts no more connections now: its queue of connections waiting to be accepted is full";
    const hint = "its process may be stopped, or overloaded: try again, or see why it does not accept";
    return { why, hint, barred: false, notSocket: false, queueFull: true };
  }
  const tooLong = "unix" in endpoint && Buffer.byteLength(endpoint.unix) > SOCKET_PATH_MAX_BYTES;
  if (tooLong) {
    const why = `its path is ${Buffer.byteLength(endpoint.unix)} bytes, over the ${SOCKET_PATH_MAX_BYTES} a Unix socket's path may have`;
    const hint = `no arbiter can listen there: pass a shorter --socket${libraryForm(", or connect({ socket })")}`;
    return { why, hint, barred: false, notSocket: false };
  }
  const notSocket = "unix" in endpoint && isOtherFile(endpoint.unix);
  const directory = "unix" in endpoint && notSocket && isDirectory(endpoint.unix);
  if (directory)
    return {
      why: NOT_A_SOCKET_BUT_DIRECTORY,
      hint: socketInDirectory(endpoint.unix),
      barred: false,
      notSocket,
    };
  const barred = code === "EACCES" && "unix" in endpoint && !notSocket;
  const hint = notSocket
    ? `pass the arbiter's socket as --socket or in IVSH_SOCKET${libraryForm(", or connect({ socket })")}`
    : barred
      ? accessHint(endpoint.unix)
      : "unix" in endpoint
        ? socketMissingHint(endpoint.unix, code, sysfsRoot)
        : tcpHint(endpoint, code);
  const why =
    notSocket && code !== "" ? `it is a file that is not a socket (${code})` : connectFailure(cause);
  return { why, hint, barred, notSocket };
}

/** `--socket /run/ivsh`, the directory instead of the socket in it: said as such, with the name to add. */
export const NOT_A_SOCKET_BUT_DIRECTORY = "it is a directory, not a socket";

export function socketInDirectory(path: string): string {
  return `--socket names the socket itself, e.g. ${path.replace(/\/+$/, "")}/ivsh.sock`;
}

export function isDirectory(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
  } catch {
    return false;
  }
}

/**
 * A path that exists and is no socket: connect(2) says ECONNREFUSED for a regular file (not ENOTSOCK),
 * which would read as "nothing listens on it"; `ivsh host` says it as this does.
 */
function isOtherFile(path: string): boolean {
  try {
    const stats = statSync(path, { throwIfNoEntry: false });
    return stats !== undefined && !stats.isSocket();
  } catch {
    return false; // a directory on the way this user may not search: said by accessHint
  }
}

/**
 * What to do about EACCES, from what the path says about itself: the socket's mode and group (the group
 * to join), or the directory on the way that this user may not search.
 */
function accessHint(path: string): string {
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(path);
  } catch {
    const blocking = firstUnsearchable(path);
    return blocking
      ? `this user may not enter ${blocking.path} (mode ${modeOf(blocking.mode)}, group ${groupName(blocking.gid)}): join that group, or ask its owner`
      : "ask the socket's owner";
  }
  return `the socket is mode ${modeOf(stats.mode)}, owner ${userName(stats.uid)}, group ${groupName(stats.gid)}: join that group (usermod -aG), or ask its owner`;
}

/** The first directory from the root down that this user cannot search (stat of its child fails). */
function firstUnsearchable(path: string): { path: string; mode: number; gid: number } | undefined {
  const parts = path.split("/").filter(Boolean);
  for (let depth = 1; depth < parts.length; depth++) {
    const directory = `/${parts.slice(0, depth).join("/")}`;
    try {
      statSync(`/${parts.slice(0, depth + 1).join("/")}`, { throwIfNoEntry: false });
    } catch {
      const stats = statSync(directory);
      return { path: directory, mode: stats.mode, gid: stats.gid };
    }
  }
  return undefined;
}

function modeOf(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, "0");
}

/** Why a connect failed, in words: Bun's own message is only "Failed to connect", the errno is in `code`. */
function connectFailure(cause: unknown): string {
  const code = errnoOf(cause);
  const known: Record<string, string> = {
    ENOENT: "no socket exists there (ENOENT)",
    ECONNREFUSED: "nothing listens on it (ECONNREFUSED)",
    EACCES: "this user may not open it (EACCES)",
    ENOTSOCK: "that file is not a socket (ENOTSOCK)",
    ENOTFOUND: "no address is known for its name (ENOTFOUND)", // --connect HOST:PORT's lookup
    EAI_NONAME: "no address is known for its name (EAI_NONAME)",
    EAI_AGAIN: "its name could not be looked up: no name server answered (EAI_AGAIN)", // a guest's usual case
    // A TCP connect given longer than the kernel's SYN retries (~2 min): a --timeout 1h to a wrong address.
    ETIMEDOUT: "nothing answered its connect before the system gave up retrying it (ETIMEDOUT)",
  };
  if (code) return known[code] ?? `the system said ${code}`;
  const message = cause instanceof Error ? cause.message : String(cause);
  return message.replace(/^Failed to /, "it failed to ");
}

/** How much of an unreadable first answer is kept to show: an SSH or HTTP banner's first line. */
export const OPENING_BYTES = 48;

/**
 * The first answer on a link was no frame: what listens there speaks another protocol. Its first bytes,
 * printable, say which (SSH-2.0-..., HTTP/1.1 400 ...); `said` keeps them for a caller with its own words
 * (`ivsh host`, refusing a socket path that such a program holds).
 */
export class PeerNotArbiter extends IvshError {
  constructor(
    endpoint: Endpoint,
    readonly said: string,
    cause: IvshError,
  ) {
    super(
      "ArbiterUnreachable",
      `Failed to greet the arbiter at ${describeEndpoint(endpoint)} since the peer there is not an ivsh arbiter ` +
        `(it sent "${said}"): ${"unix" in endpoint ? `check --socket${libraryForm(", or connect({ socket })")}` : OTHER_PEER_TCP_HINT}`,
      { cause },
    );
  }
}

/**
 * In a VM the address is QEMU's guestfwd, whose bridge relays to the host socket it was given when no
 * arbiter takes the connection: another program's socket there answers the guest as if it were at the
 * address, which is right.
 */
const OTHER_PEER_TCP_HINT =
  `check the address (--connect${libraryForm(", or connect({ tcp })")});` +
  " in a VM, also the --socket the host's `ivsh bridge --vm NAME --socket SOCKET` " +
  "was given (guestfwd): the bridge relays to what listens there";

/** How a link's bytes are read: its decoder, and its first bytes until a frame was read from them. */
export type Reading = { decoder: FrameDecoder; framed: boolean; opening: Uint8Array };

/**
 * A wait that ran out with part of a frame in hand (`reading`'s), in words: the bytes, and what they began.
 * "Did not answer" sent a user after a slow arbiter when something else, sending, held the socket; or, for
 * an arbiter that answered before, hid that it stopped in the middle of an answer. Undefined: none came.
 */
export function cutShort(
  endpoint: Endpoint,
  reading: Reading | undefined,
  waited: string,
): string | undefined {
  const unfinished = reading?.decoder.unfinished(CUT_SHORT_SHOWN);
  if (!reading || !unfinished) return undefined;
  const { received, bytes, length } = unfinished;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join(" ");
  const begun =
    length === undefined ? `a frame's ${FRAME_HEADER_BYTES}-byte header` : `a ${length}-byte frame`;
  const sent = `sent ${plural(received, "byte")} (${hex}${received > bytes.length ? " …" : ""}), the start of ${begun}, then nothing for ${waited}`;
  // A whole header the decoder took (its length and kind in bounds) that is a reply or an error to a request
  // is an arbiter's answer begun, as one relayed late through a VM's bridge: not "no ivsh arbiter".
  const answering = length !== undefined && [FrameKind.reply, FrameKind.error].includes(bytes[6] as 1 | 2);
  if (reading.framed || answering) return `the arbiter ${sent} (its process may be stopped, or overloaded)`;
  const check =
    "unix" in endpoint
      ? `check --socket${libraryForm(", or connect({ socket })")}; \`ss -xlp\` shows which process listens there`
      : OTHER_PEER_TCP_HINT;
  return `the peer there ${sent}: it is no ivsh arbiter, or one stopped in the middle of its answer (${check})`;
}

/** How many of a cut-short frame's bytes are shown: its header's, and a few more. */
const CUT_SHORT_SHOWN = 16;

export function notAnArbiter(endpoint: Endpoint, opening: Uint8Array, cause: IvshError): IvshError {
  const text = Buffer.from(opening).toString("latin1");
  const shown = (text.split(/\r?\n/)[0] ?? "").replace(/[^\x20-\x7e]/g, ".").slice(0, 40);
  const more = shown.length < text.trimEnd().length ? "…" : "";
  return new PeerNotArbiter(endpoint, `${shown}${more}`, cause);
}

/** Whether connecting failed because this user may not open the arbiter's socket (EACCES on the way). */
export function refusedAccess(error: unknown): boolean {
  return isIvshError(error, "ArbiterUnreachable") && errnoOf(error.cause) === "EACCES";
}
