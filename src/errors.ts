/**
 * The one error type of ivsh. Every failure, local or reported by the arbiter, is an `IvshError` with a
 * stable code (also its number on the wire) and a message of the form "Failed to X since Y".
 * The library throws these; only the CLI prints them and chooses the exit code.
 */

export const ErrorCode = {
  /** A frame that cannot be decoded: truncated, oversized, trailing bytes. The connection is closed. */
  BadFrame: 1,
  /** The peer speaks another protocol version. */
  VersionMismatch: 2,
  /** An opcode this arbiter does not know. */
  UnknownOp: 3,
  /** A request in the wrong state (e.g. anything before hello, a second hello). */
  ProtocolState: 4,
  /** An argument out of range or inconsistent (zero size, bad mode, too-long name). */
  InvalidArgument: 5,
  /**
   * No room: no run of free blocks (or no free slot) large enough, no client id left, the region's file
   * system is full, or the arbiter's open-file limit leaves no room for another connection (refused before
   * its hello, with request id 0). A full state journal is `JournalFull`.
   */
  NoSpace: 6,
  /** A per-client or per-VM quota would be exceeded. */
  QuotaExceeded: 7,
  /** No segment, slot or session by that name or id. */
  NotFound: 8,
  /** A name that is already taken, for an exclusive create. */
  AlreadyExists: 9,
  /** The requested mode conflicts with current holders (write-exclusive rules). */
  PermissionDenied: 10,
  /** The caller does not hold what it tries to release. */
  NotHeld: 11,
  /** The client's heartbeat lease ran out; its grants were reclaimed. */
  LeaseExpired: 12,
  /** A session token the arbiter does not know (reclaimed or never issued). */
  SessionUnknown: 13,
  /** A wait ran out of time. */
  Timeout: 14,
  /** The connection to the arbiter was lost and could not be re-established. */
  ConnectionLost: 15,
  /** A libc call failed; the message names the call, the path and errno. */
  SystemCall: 16,
  /** The region file or device does not hold a valid, matching layout. */
  RegionInvalid: 17,
  /** No IVSHMEM device (1af4:1110) was found. */
  DeviceNotFound: 18,
  /** The arbiter's socket does not answer. */
  ArbiterUnreachable: 19,
  /** A channel already has a sender or a receiver. */
  ChannelBusy: 20,
  /** The other side of a channel went away mid-stream. */
  PeerGone: 21,
  /** The end-to-end digest of a transfer does not match. */
  DigestMismatch: 22,
  /** Another arbiter is already serving this socket, region or state journal. */
  ArbiterRunning: 23,
  /** The persisted state cannot be read or does not match the region. */
  StateInvalid: 24,
  /** An internal invariant broke; a bug. */
  Internal: 25,
  /** The user interrupted the operation (Ctrl-C, SIGTERM). */
  Interrupted: 26,
  /**
   * Shared memory holds a value no honest peer writes (a ring counter out of range, a record that claims
   * more than its chunk, a confirmation that does not match): something overwrote the region.
   */
  RegionCorrupted: 27,
  /** The file being sent grew, shrank or was rewritten while it was read: a copy would not be the file. */
  SourceChanged: 28,
  /**
   * The arbiter's --state journal cannot be written since its file system is full (ENOSPC, EDQUOT): the
   * change was refused, nothing of it done. Not the region's room: a larger --size does not help; free space
   * there, or move the journal. (An older client, which does not know the code, takes it for Internal.)
   */
  JournalFull: 29,
} as const;

/** An error code's name, as `IvshError.code` holds it: `"NotFound"`, `"Timeout"`, ... (see `ErrorCode`). */
export type ErrorCodeName = keyof typeof ErrorCode;

const namesByNumber = new Map<number, ErrorCodeName>(
  Object.entries(ErrorCode).map(([name, value]) => [value, name as ErrorCodeName]),
);

/**
 * What a code means to the parts that handle it. Each part asks `hasTrait`; none keeps its own list.
 * - endsConnection: the arbiter answers it, then closes the connection (the conversation cannot go on).
 * - endsSession: the session is gone (a client's transport is lost for good: every later call fails).
 * - endsResume: reconnecting to resume the session is pointless (it is gone, or the peer is incompatible).
 * - harmlessOnRelease: met while giving a channel's ring or role back, it leaves us nothing to do: the
 *   session is gone, or its arbiter gives back what the session holds when it ends.
 * - whileRestarting: what an arbiter that is restarting answers; a connecting client retries.
 * - routine: a refusal a working program meets in the normal course (the operator's log: debug only).
 */
export type ErrorTrait =
  | "endsConnection"
  | "endsSession"
  | "endsResume"
  | "harmlessOnRelease"
  | "whileRestarting"
  | "routine";

const TRAITS: Record<ErrorCodeName, readonly ErrorTrait[]> = {
  BadFrame: ["endsConnection"],
  VersionMismatch: ["endsConnection", "endsResume"],
  UnknownOp: ["endsConnection"],
  ProtocolState: ["endsConnection"],
  InvalidArgument: [],
  NoSpace: [],
  QuotaExceeded: [],
  NotFound: ["routine"],
  AlreadyExists: ["routine"],
  PermissionDenied: ["endsResume"],
  NotHeld: ["harmlessOnRelease", "routine"],
  LeaseExpired: ["endsConnection", "endsSession", "endsResume", "harmlessOnRelease"],
  SessionUnknown: ["endsConnection", "endsSession", "endsResume", "harmlessOnRelease"],
  Timeout: ["routine"],
  ConnectionLost: ["harmlessOnRelease", "whileRestarting"],
  SystemCall: [],
  RegionInvalid: ["endsResume"],
  DeviceNotFound: [],
  ArbiterUnreachable: ["harmlessOnRelease", "whileRestarting"],
  ChannelBusy: [],
  PeerGone: [],
  DigestMismatch: [],
  ArbiterRunning: [],
  StateInvalid: [],
  Internal: [],
  Interrupted: [],
  RegionCorrupted: [],
  SourceChanged: [],
  JournalFull: [],
};

/** Whether `error` is an IvshError whose code has `trait`. */
export function hasTrait(error: unknown, trait: ErrorTrait): error is IvshError {
  return error instanceof IvshError && TRAITS[error.code].includes(trait);
}

export function errorCodeName(code: number): ErrorCodeName | undefined {
  return namesByNumber.get(code);
}

/**
 * What every ivsh failure throws: `code` says which (a name of `ErrorCode`, e.g. "NotFound",
 * "ArbiterUnreachable"), `message` says what failed, why, and what to do about it.
 */
export class IvshError extends Error {
  override readonly name = "IvshError";
  constructor(
    readonly code: ErrorCodeName,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get codeNumber(): number {
    return ErrorCode[this.code];
  }

  /** Builds the error a peer sent as (code number, message); unknown numbers become Internal. */
  static fromWire(code: number, message: string): IvshError {
    return new IvshError(errorCodeName(code) ?? "Internal", message);
  }
}

/** Shorthand for the house style: `failure("InvalidArgument", "parse --size", "'12q' has an unknown unit")`. */
export function failure(code: ErrorCodeName, action: string, reason: string): IvshError {
  return new IvshError(code, `Failed to ${action} since ${reason}`);
}

/** A name as an error quotes it: one a caller gave of thousands of bytes is cut, not echoed whole. */
export function shownName(name: string): string {
  if (name.length <= 80) return name; // as many code points at most: kept whole, without splitting it
  const characters = [...name]; // whole code points: a cut must not split a surrogate pair
  return characters.length > 80 ? `${characters.slice(0, 77).join("")}...` : name;
}

/**
 * Each text `libraryForm` gave: what `forCommands` leaves out, longest first. One form may lie inside
 * another (" or connect({ region })" in ", or connect({ region })"): cut first, the shorter left the
 * longer's comma behind, as it was made first or not.
 */
const LIBRARY_FORMS: string[] = [];

/**
 * `text`, the library's name for an option a message names beside the command's flag ("; connect({ region })",
 * ", or connect({ socket })"): said to the library's users as it is, left out of what a command prints
 * (`forCommands`), whose user has only the flag (and read "connect({ socket })" as something to type).
 */
export function libraryForm(text: string): string {
  if (LIBRARY_FORMS.includes(text)) return text;
  LIBRARY_FORMS.push(text);
  LIBRARY_FORMS.sort((a, b) => b.length - a.length);
  return text;
}

/** `message` as a command prints it: without the library's names of options (`libraryForm`). */
export function forCommands(message: string): string {
  let said = message;
  for (const form of LIBRARY_FORMS) said = said.replaceAll(form, "");
  return said;
}

/** What an error says after "Failed to ACTION since ": its reason, to quote in another error's. */
export function reasonOf(error: Error): string {
  return error.message.replace(/^Failed to .*? since /, "");
}

/**
 * Throws if `signal` was aborted: its reason itself when that is an IvshError (e.g. PeerGone), else
 * Interrupted with the reason as the cause (e.g. "it was interrupted by SIGINT").
 */
export function throwIfAborted(signal: AbortSignal | undefined, action: string): void {
  if (signal?.aborted) throw abortedError(signal, action);
}

/**
 * What an aborted `signal` means for `action`: its reason if that is an IvshError, Timeout for the
 * deadline of an `AbortSignal.timeout()`, else Interrupted.
 */
export function abortedError(signal: AbortSignal | undefined, action: string): IvshError {
  const reason: unknown = signal?.reason;
  if (reason instanceof IvshError) return reason;
  // A deadline, not an interruption: told as "since The operation timed out." under Interrupted before.
  if (reason instanceof Error && reason.name === "TimeoutError")
    return failure("Timeout", action, "its signal's deadline passed (AbortSignal.timeout)");
  // controller.abort() with no reason makes a DOMException "AbortError" (its message differs by runtime):
  // say it in words, not by its name.
  const isDefault = reason === undefined || (reason instanceof Error && reason.name === "AbortError");
  const why = reason instanceof Error ? reason.message : String(reason);
  return failure("Interrupted", action, isDefault ? "it was aborted" : why);
}

/**
 * Whether `error` is an IvshError (with `code`, if given): `catch (e) { if (isIvshError(e, "NotFound")) … }`.
 * Given a code, it narrows `e.code` to it.
 */
export function isIvshError<C extends ErrorCodeName = ErrorCodeName>(
  error: unknown,
  code?: C,
): error is IvshError & { readonly code: C } {
  return error instanceof IvshError && (code === undefined || error.code === code);
}

/**
 * A file system error that reached the CLI unconverted (`open '/x'` failing with ENOENT) in the house
 * style, or undefined for anything else: the operator needs the path and the reason, not a stack.
 */
export function describeSystemError(error: unknown): string | undefined {
  const { code, syscall, path, message } = (error ?? {}) as NodeJS.ErrnoException;
  if (typeof code !== "string" || !/^E[A-Z0-9]+$/.test(code) || typeof syscall !== "string") return undefined;
  // Node's message is "CODE: reason, syscall 'path'"; the reason alone reads as a sentence.
  const reason = /^E[A-Z0-9]+: ([^,]+)/.exec(message)?.[1] ?? code;
  return `Failed to ${syscall}${path ? ` ${path}` : ""} since ${reason} (${code})`;
}
